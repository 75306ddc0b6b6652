"""File digests; the permissions of files written atomically (``tempfile`` makes them private (0600 /
0700), but results are meant to be read by others: a web server serving an MTurk batch, the nodes of a Ray
cluster sharing a store); and the checks that keep a command from overwriting its own inputs."""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from stages.errors import InputError

_UMASK = os.umask(0o022)  # the umask can only be read by setting it: read it once, at import, and put it back
os.umask(_UMASK)


def make_public(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open()`` or ``mkdir()`` would have given it: 0666 for a file, 0777
    for a folder, less the process's umask."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)


def file_digest(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (memoised on path, size and modification time)."""
    stat = os.stat(path)
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(first: str | Path, second: str | Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (links, ``..``, hard links), else the
    same resolved path (symlinks followed)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return Path(first).resolve() == Path(second).resolve()


def check_outputs(outputs: dict[str, str | Path], inputs: dict[str, str | Path | None]) -> None:
    """Refuse, before any work, outputs that would replace an input or one another.

    ``outputs`` and ``inputs`` map what the user calls each path (``-o``, ``--mask``, "the flow picture
    beside -o", ...) to the path; None inputs are skipped. A folder input is refused as an output itself; new
    files may go inside it.
    """
    given = {name: Path(path) for name, path in inputs.items() if path is not None}
    seen: dict[str, Path] = {}
    for name, output in outputs.items():
        output = Path(output)
        for input_name, source in given.items():
            if same_file(output, source):
                raise InputError(f"{name} ({output}) would overwrite {input_name} ({source}): give another "
                                 "output path")
        for other_name, other in seen.items():
            if same_file(output, other):
                raise InputError(f"{name} ({output}) and {other_name} ({other}) are the same file: give "
                                 "another path")
        seen[name] = output


def check_writable_folder(folder: str | Path, setting: str) -> Path:
    """Check that files can be written in ``folder``, or that it can be created, without creating anything:
    a real write is tried in the folder or its nearest existing parent → the folder.

    ``setting`` names the option the folder comes from, for the InputError.
    """
    folder = Path(folder)
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot create the folder {folder} for {setting}: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):  # a real write: permissions, read-only mounts, full disks
            pass
    except OSError as error:
        raise InputError(f"cannot write in the folder {existing} (for {setting}): {error.strerror}; choose a "
                         "folder you can write to") from None
    return folder


def load_tensors(source, what: str, **kwargs):
    """``torch.load(source, weights_only=True, **kwargs)``: tensors, arrays and plain containers only.

    A refused file gives an InputError naming ``what`` and the Python object it asked for, without PyTorch's
    advice to retry with ``weights_only=False`` (wrong advice for a file that may be hostile).
    """
    import pickle
    import re
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # notes on pickle protocols, not the user's concern
            return torch.load(source, weights_only=True, **kwargs)
    except pickle.UnpicklingError as error:
        asked = re.search(r"GLOBAL ([\w.]+)", str(error))
        if asked:
            raise InputError(f"{what} asks for the Python object {asked.group(1)}, which is never loaded: only "
                             "tensors and arrays are read (other objects could run code)") from None
        raise InputError(f"{what} is not a file of tensors or arrays that can be read safely") from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InputError(f"cannot read {what} as tensors ({reason})") from None
