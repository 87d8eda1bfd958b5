"""The error every converter raises for bad input: a `UserError`, so any command's handler catches it."""
from nnunetv2_s3mamba.errors import UserError


class ConversionError(UserError):
    """Input data that cannot be converted as asked; the message names the file and how to fix it."""
