"""Opening telemetry files as text: the first bytes are sniffed before any real work is done.

Every energy reader (``ipmi``, ``redfish``, ``pdu``) opens its file through :func:`open_text`, which reads
at most :data:`SNIFF_BYTES` and refuses, within milliseconds and naming the file and the expected format,
a file that is empty, holds NUL bytes, or is mostly not text (random bytes, a zip, an image). The reader
then checks the head for its own header (an ``Instantaneous power reading`` line, a JSON ``{``, a CSV
header with a time column) before it parses anything, and reads the rest line by line through
:func:`lines`, which refuses a NUL byte or an absurdly long line where it occurs: a 200 MB file of garbage
costs no more than its first bytes.

Encodings: UTF-8 (a byte order mark is skipped) and UTF-16 with a byte order mark (PowerShell's ``>``
writes it on Windows). A few bytes that are not UTF-8 (an exported ``°`` in Latin-1) are read as U+FFFD.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from greenci.errors import DataFormatError, InputError

__all__ = ["MAX_LINE_CHARS", "SNIFF_BYTES", "decode", "lines", "open_text", "read_json"]

#: how much of a file is read to decide whether it is text of the expected format at all
SNIFF_BYTES = 64 * 1024
#: a longer line is not telemetry (a PDU row or an ipmitool line is well under 1 KiB)
MAX_LINE_CHARS = 64 * 1024
#: share of control or undecodable characters in the head above which a file is not text
_NOT_TEXT_SHARE = 0.02
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1b")


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _check_head(head: bytes, where: str, fmt: str) -> tuple[str, str]:
    """The encoding and the decoded head, or a DataFormatError saying why this is not ``fmt`` text."""
    if not head.strip():
        raise DataFormatError(f"the file is empty: expected {fmt}", path=where)
    encoding = _encoding(head)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    if "\x00" in text:
        raise DataFormatError(f"the file holds NUL bytes: it is binary, not {fmt} (a UTF-16 file needs its byte "
                              "order mark; or save it as UTF-8)", path=where)
    odd = sum(1 for c in text if c == "\ufffd" or (c < " " and c not in _ALLOWED_CONTROLS))
    if odd > max(8, _NOT_TEXT_SHARE * len(text)):
        raise DataFormatError(f"the file is not text ({odd} of its first {len(text)} characters are control codes "
                              f"or not UTF-8): expected {fmt}", path=where)
    return encoding, text


def decode(data: bytes, *, where: str, fmt: str) -> str:
    """Bytes read whole (stdin) as text, after the same sniffing of their head as :func:`open_text`."""
    encoding, _head = _check_head(data[:SNIFF_BYTES], where, fmt)
    text = data.decode(encoding, errors="replace")
    if "\x00" in text:
        raise DataFormatError(f"the text holds NUL bytes: it is binary, not {fmt}", path=where)
    return text


@contextlib.contextmanager
def open_text(path: str | os.PathLike[str], *, fmt: str) -> Iterator[tuple[TextIO, str]]:
    """``(file, head)``: the file opened as text after its head was sniffed; ``head`` is its decoded start.

    ``fmt`` names the expected format in messages (``"ipmitool dcmi power reading output"``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path")
    try:
        raw = open(p, "rb")  # noqa: SIM115 - closed below, or handed to the text wrapper that closes it
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc}): check its permissions") from None
    try:
        head = raw.read(SNIFF_BYTES)
        encoding, text = _check_head(head, str(p), fmt)
        raw.seek(0)
    except BaseException:
        raw.close()
        raise
    with io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as fh:
        yield fh, text


def lines(fh: TextIO, where: str, *, keep_ends: bool = False) -> Iterator[str]:
    """The lines of ``fh``; a NUL byte or a line over :data:`MAX_LINE_CHARS` is refused with its row."""
    row = 0
    while True:
        line = fh.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        row += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise DataFormatError(f"the line is longer than {MAX_LINE_CHARS} characters: this is not telemetry text",
                                  path=where, row=row)
        if "\x00" in line:
            raise DataFormatError("the line holds NUL bytes: the file is binary or damaged from here on",
                                  path=where, row=row)
        yield line if keep_ends else line.rstrip("\r\n")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: str | os.PathLike[str], *, fmt: str, max_bytes: int, too_big: str) -> object:
    """A saved JSON document (an API answer, Redfish resources), sniffed first: text that starts with ``{``
    or ``[``, at most ``max_bytes`` (else refused with ``too_big``, the fix), ``NaN`` and ``Infinity`` (not
    JSON) refused, nesting too deep refused; every refusal names the file and the expected ``fmt``."""
    import json

    p = Path(path)
    where = str(p)
    with open_text(p, fmt=fmt) as (fh, head):
        if not head.lstrip().startswith(("{", "[")):
            raise DataFormatError(f"does not start with '{{' or '[': expected {fmt}", path=where)
        size = p.stat().st_size
        if size > max_bytes:
            raise DataFormatError(f"is {size} bytes, more than {max_bytes}: {too_big}", path=where)
        text = fh.read()
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise DataFormatError(f"not JSON ({exc}): expected {fmt}", path=where) from None
    except RecursionError:
        raise DataFormatError(f"nested too deeply: expected {fmt}", path=where) from None
