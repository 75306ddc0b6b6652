"""The one exception type for mistakes a user can fix, and how a full disk is told from other failures."""

import errno


class InputError(ValueError):
    """Bad input from the user; the message says what is wrong and what to do."""


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
"""Error numbers of a full filesystem: no space left, or the user's quota used up."""


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` is a write refused because its filesystem is full (:data:`DISK_FULL`)."""
    return isinstance(error, OSError) and error.errno in DISK_FULL


ECHO_CHARS = 60
"""At most this many characters of a user's value are quoted back in a message."""


def shorten(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr`` of ``str(value)``, cut to ``limit`` characters with the full length said when longer."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"
