"""Errors that describe a user's mistake: the CLI prints them as one line and exits non-zero."""


class UserInputError(ValueError):
    """Bad input from the user (file, option or data); the message says what to do."""
