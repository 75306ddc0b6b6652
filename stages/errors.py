"""The one exception type for mistakes a user can fix."""


class InputError(ValueError):
    """Bad input from the user; the message says what is wrong and what to do."""
