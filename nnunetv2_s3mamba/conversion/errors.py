"""The one exception type every converter raises for bad input.

A single type lets the CLI print the message (which names the file and the fix) without a traceback, while
programming errors keep their tracebacks.
"""


class ConversionError(ValueError):
    """Input data that cannot be converted as asked; the message names the file and how to fix it."""
