"""The registry of intensity file formats, and reading files or folders through it.

Each reader module declares its :class:`FileFormat` (name, signal kind, the sniffer that recognises its
header, the reader); :func:`registered` lists them in the order they are tried. Adding a format is one
module plus one line in :func:`registered`. A format may be recognised but hold no intensity (ENTSO-E
production tables): it is skipped inside folders and refused, with its reason, when named.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from greenci.accounting import Signal, check_signal
from greenci.csvutil import normalize, read_header
from greenci.errors import DataFormatError, InputError, SignalMismatchError
from greenci.grid import IntensitySeries
from greenci.textfiles import text_head

PathLike = str | os.PathLike[str]
#: ``sniff(stem, header, names)``: the file name's stem (lower case), the header as written, normalised names
Sniffer = Callable[[str, Sequence[str], Sequence[str]], bool]


@dataclass(frozen=True)
class FileFormat:
    """One intensity file format: what it is called, what it carries, how it is told and read."""

    name: str
    signal: Signal | None  # None: a recognised table that holds no carbon intensity
    sniff: Sniffer
    read: Callable[..., list[IntensitySeries]] | None
    columns: str  # the identifying columns, shown in errors
    refusal: str = ""  # why a file of a non-intensity format is refused when named

    @property
    def holds_intensity(self) -> bool:
        return self.signal is not None


@functools.cache
def registered() -> tuple[FileFormat, ...]:
    """Every format, in the order headers are tried (the most specific first)."""
    from greenci.sources import electricitymaps_csv, electricitymaps_history, entsoe_csv, watttime_csv

    return (
        electricitymaps_csv.FILE_FORMAT,
        electricitymaps_history.FILE_FORMAT,
        entsoe_csv.FILE_FORMAT,
        entsoe_csv.PRODUCTION_FORMAT,
        watttime_csv.FILE_FORMAT,
    )


def format_named(name: str) -> FileFormat:
    for f in registered():
        if f.name == name:
            return f
    raise InputError(f"format {name!r} is unknown: use one of {', '.join(f.name for f in registered() if f.read)}")


def format_help() -> str:
    return ", ".join(f"{f.name} ({f.columns})" for f in registered() if f.holds_intensity)


def sniff_file(path: PathLike) -> None:
    """Refuse at once, naming the file and the formats read, what cannot be a CSV text file (see
    :func:`greenci.textfiles.text_head`), so that no parser spends time on garbage."""
    text_head(path, expected=f"carbon-intensity files are CSV in one of these formats: {format_help()}")


def detect_format(path: PathLike) -> str:
    """The format of a file, told from its header line (after :func:`sniff_file`)."""
    sniff_file(path)
    return detect_header_format(os.fspath(path), read_header(path))


def detect_header_format(path: str, header: Sequence[str]) -> str:
    """The format a header belongs to; raises :class:`DataFormatError` naming the supported ones."""
    names = [normalize(h) for h in header]
    stem = Path(path).stem.lower()
    for f in registered():
        if f.sniff(stem, header, names):
            return f.name
    shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
    raise DataFormatError(
        f"the header [{shown}] matches no known carbon-intensity format: supported formats are "
        f"{format_help()}; convert the file to one of them",
        path=path,
    )


def read_file(path: PathLike, fmt: str | None = None, *, region: str | None = None,
              column: str | None = None) -> list[IntensitySeries]:
    """Read one file with the reader of ``fmt`` (detected from the header when None)."""
    if fmt is not None:
        sniff_file(path)
    f = format_named(fmt or detect_format(path))
    if f.read is None:
        raise DataFormatError(f"this is {f.refusal}", path=os.fspath(path))
    return f.read(path, region=region, column=column)


def read_intensity(paths: PathLike | Iterable[PathLike], *, region: str | None = None,
                   column: str | None = None, signal: str | None = None) -> list[IntensitySeries]:
    """Read every carbon-intensity file in ``paths`` (files, or directories searched for ``*.csv``).

    Directories are walked recursively in sorted order; files that are recognised but hold no
    intensity (ENTSO-E production tables) are skipped there, as is any file of another ``signal``
    kind when ``signal`` is given. A file named explicitly must be readable and of that kind.
    ``region`` renames the region of each file (for files holding one region); ``column`` picks the
    value column (e.g. ``"lca"`` for Electricity Maps life-cycle intensity).
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise InputError("no intensity files given: pass CSV files or a directory holding them")
    if signal is not None:
        check_signal(signal)
    files: list[tuple[str, bool]] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files += [(str(f), False) for f in intensity_files(p)]
        elif p.is_file():
            files.append((os.fspath(given), True))
        else:
            raise InputError(f"{os.fspath(given)}: no such file or directory: check the path")
    seen: set[Path] = set()
    out: list[IntensitySeries] = []
    for name, explicit in files:
        key = Path(name).resolve()
        if key in seen:
            continue
        seen.add(key)
        f = format_named(detect_format(name))
        if not f.holds_intensity:
            if explicit:
                raise DataFormatError(f"this is {f.refusal}", path=name)
            continue
        if signal is not None and f.signal != signal:
            if explicit:
                raise SignalMismatchError(
                    f"{name}: holds {f.signal} intensity ({f.name}) but {signal} intensity was asked for: "
                    f"leave the file out, or ask for {f.signal} intensity", field="signal"
                )
            continue
        out += read_file(name, f.name, region=region, column=column)
    if not out:
        where = ", ".join(os.fspath(p) for p in paths)
        kind = f" with {signal} intensity" if signal else ""
        raise InputError(f"no carbon-intensity CSV{kind} found in {where}: supported formats are {format_help()}")
    return out


def intensity_files(directory: PathLike) -> list[Path]:
    """The carbon-intensity CSV files under ``directory``, recursively, in sorted order.

    Only ``*.csv`` files are looked at (so LICENSE, SOURCE, README stay out); recognised tables that
    hold no intensity (ENTSO-E production files) are left out too. CSV files of unknown format stay
    in, so that reading them says what is wrong instead of silently ignoring them.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{os.fspath(directory)}: not a directory: check the path")
    out = []
    for f in sorted(root.rglob("*.csv")):
        if not f.is_file():
            continue
        try:
            if not format_named(detect_format(f)).holds_intensity:
                continue
        except DataFormatError:
            pass
        out.append(f)
    return out
