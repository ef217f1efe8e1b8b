"""Errors shared by the command line and the library."""


class UserError(Exception):
    """An error caused by user input; the CLI prints it without a traceback and exits with 2."""
