"""The one exception type for mistakes a user can fix."""


class InputError(ValueError):
    """Bad input from the user; the message says what is wrong and what to do."""


ECHO_CHARS = 60
"""At most this many characters of a user's value are quoted back in a message."""


def shorten(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr`` of ``str(value)``, cut to ``limit`` characters with the full length said when longer."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"
