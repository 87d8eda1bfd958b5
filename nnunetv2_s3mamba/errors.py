"""The one exception type for a user's mistake (bad input data, option or file), shared by every command.

One root lets each CLI print the message (which names the file and the fix) without a traceback, while
programming errors keep their tracebacks. Packages may subclass it to say where the mistake was found
(`conversion.errors.ConversionError`); catching `UserError` catches them all.
"""


class UserError(ValueError):
    """Input that cannot be used as asked; the message names the file or option and how to fix it."""
