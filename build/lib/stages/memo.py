"""Model loaders memoised per process, safe to call from threads running items at once."""

from __future__ import annotations

import functools
import threading
from typing import Callable, TypeVar

Result = TypeVar("Result")

_loading = threading.RLock()


def loaded_once(maxsize: int) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """``functools.lru_cache(maxsize)`` for model loaders, whose calls hold one lock shared by every such loader.

    Items running at once in threads of one process then load a model once (the others wait for it and get
    the same object) and never run a library's lazy imports from two threads at once: transformers' lazy
    module fails then ("cannot import name ..."). The lock is re-entrant, so a loader may call another.
    """
    def decorate(function: Callable[..., Result]) -> Callable[..., Result]:
        cached = functools.lru_cache(maxsize)(function)

        @functools.wraps(function)
        def load(*args, **kwargs) -> Result:
            with _loading:
                return cached(*args, **kwargs)

        return load

    return decorate
