"""Output files that are whole or absent: checked before the work starts, written to a temporary name, renamed.

Every file greenci writes goes through here. A reader (or a second greenci writing the same file at the
same time) sees the old file or the new one, never half of one; a failure while writing leaves the old
file as it was. :func:`check_file` and :func:`check_folder` run before the work, so that an hour of
simulation or a measured command is not lost to a typo in ``-o``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from greenci.errors import InputError

__all__ = ["append_line", "atomic_open", "atomic_path", "check_file", "check_folder", "write_bytes", "write_text"]


def check_file(path: Path, *, field: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Fail now, naming ``field``, if ``path`` cannot become a file of one of ``suffixes`` (``.json``, ...)."""
    path = Path(path)
    if path.is_dir():
        example = path / ("out" + (suffixes[0] if suffixes else ""))
        raise InputError(f"{field} {path} is a folder: name a file inside it, e.g. {example}", field=field)
    if suffixes and path.suffix.lower() not in suffixes:
        kinds = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1]
        raise InputError(f"{field} {path}: write a {kinds} file, e.g. {path.with_suffix(suffixes[0])}", field=field)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{field} {path}: the file is not writable: choose another path or fix its permissions",
                         field=field)
    if path.exists() and not path.is_file():
        raise InputError(f"{field} {path} is not a regular file: choose another path", field=field)
    _check_parent(path.parent, field=field, what=str(path))
    return path


def check_folder(path: Path, *, field: str) -> Path:
    """Fail now, naming ``field``, if ``path`` cannot be (or become) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{field} {path} is a file: name a folder (it is created when missing)", field=field)
    _check_parent(path if path.is_dir() else path.parent, field=field, what=str(path))
    return path


def _check_parent(parent: Path, *, field: str, what: str) -> None:
    """The nearest existing ancestor must be a folder where a file can be created (missing folders are made later).

    A real probe (create and remove a hidden file), not ``os.access``: root passes every access check,
    yet cannot write in ``/proc`` or on a read-only mount.
    """
    probe = parent if str(parent) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{field} {what}: {probe} is a file, not a folder: choose another path", field=field)
    try:
        fd, name = tempfile.mkstemp(prefix=".greenci-probe-", dir=probe)
    except OSError as exc:
        raise InputError(f"{field} {what}: cannot write in {probe} ({exc.strerror}): choose another path",
                         field=field) from None
    os.close(fd)
    os.unlink(name)


def _temporary(path: Path) -> Path:
    """A hidden sibling that keeps the suffix (libraries pick the format from it) and is unique per writer."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open`` for writing whose result appears whole under ``path`` when the block ends without error."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: Path, text: str) -> Path:
    with atomic_open(path, "w", newline="") as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def append_line(path: Path, line: str) -> None:
    """Append one line in a single ``write`` on an ``O_APPEND`` descriptor: concurrent appenders never interleave."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:  # a short write (a full disk) is continued, or raises: never half a line without an error
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
