"""The first look at an input file: is it UTF-8 text with lines at all? Decided from its first 64 KiB.

Why one place: intensity files and traces are parsed by pandas or the csv module, which would spend
seconds and gigabytes on a binary file before failing with a message about some row. Reading a fixed
head first refuses garbage at once, naming the file and what was expected, and every reader refuses it
in the same words. (Telemetry files have their own, more lenient rule: see :mod:`greenci.energy.sniff`.)
"""

from __future__ import annotations

import codecs
import os

from greenci.errors import DataFormatError, InputError

__all__ = ["SNIFF_BYTES", "text_head"]

#: how much of a file is looked at before it is parsed: enough for any header line
SNIFF_BYTES = 65536
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def text_head(path: str | os.PathLike[str], *, expected: str, json_allowed: bool = False) -> str:
    """The file's first 64 KiB as text (byte-order mark removed), or an error naming the file and ``expected``.

    Refused: a missing or unreadable file, UTF-16 or binary content (NUL bytes), text that is not UTF-8,
    an empty file, and a first line longer than 64 KiB (no header line; unless ``json_allowed`` and the
    text starts like JSON).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory: give a file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check the path and its permissions") from None
    if raw.startswith(_WIDE_BOMS):
        raise DataFormatError(f"is UTF-16 text: save it as UTF-8 ({expected})", path=name)
    if b"\x00" in raw:
        raise DataFormatError(f"holds NUL bytes: it is a binary file, not text; {expected}", path=name)
    try:
        head = codecs.getincrementaldecoder("utf-8")().decode(raw, final=len(raw) < SNIFF_BYTES)
    except UnicodeDecodeError:
        raise DataFormatError(f"is not UTF-8 text; {expected}", path=name) from None
    head = head.removeprefix("\ufeff")
    stripped = head.lstrip()
    if not stripped:
        raise DataFormatError(f"is empty (no header line): {expected}", path=name)
    looks_json = json_allowed and stripped[0] in "[{"
    if not looks_json and len(raw) == SNIFF_BYTES and "\n" not in head and "\r" not in head:
        raise DataFormatError(f"its first {SNIFF_BYTES // 1024} KiB hold no line break, so no header line; {expected}",
                              path=name)
    return head
