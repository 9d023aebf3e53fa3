"""What every greenci command group shares: clean error exits, output formats, progress bars, reading inputs."""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import typer
import typer.core
from rich.console import Console

from greenci.errors import GreenciError, InputError
from greenci.jsonsafe import dumps, finite, json_default  # noqa: F401 - re-exported for the CLI modules


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a GreenciError as one line on stderr and exit with its code, without a traceback."""

    options = option_names(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GreenciError as exc:
            print_error(in_cli_terms(exc, options))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            if exc.filename is None:
                raise
            # a file greenci was told to read or write cannot be: the path is the user's to fix
            where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
            print_error(f"{where}: {exc.strerror or exc}: check the path, that it is a file where one is "
                        "expected, and its permissions")
            raise typer.Exit(2) from None

    return wrapper


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr; the message is plain text (a path with ``[red]`` in it stays as it is)."""
    from rich.text import Text

    line = Text("error: ", style="bold red")
    line.append(message)
    Console(stderr=True, soft_wrap=True, highlight=False).print(line)


def in_cli_terms(exc: GreenciError, options: dict[str, str]) -> str:
    """The message with the request fields it is about named as the command's options (``--energy-kwh``).

    The fields the error names are replaced where they first appear; any other parameter name with an
    underscore (never an English word) is replaced wherever it appears as a whole word.
    """
    text = str(exc)
    for name in exc.fields:
        if name in options:
            text = re.sub(_whole_word(name), options[name], text, count=1)
    for name, option in options.items():
        if "_" in name:
            text = re.sub(_whole_word(name), option, text)
    return text


def _whole_word(name: str) -> str:
    """``name`` as a word of the message, never inside a path (``/data/at/x``) or a longer name."""
    return rf"(?<![\w/.-]){re.escape(name)}(?![\w/-])"


def option_names(func: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> its long option (``energy_kwh`` -> ``--energy-kwh``) of a Typer command function."""
    import inspect

    out = {}
    for name, param in inspect.signature(func).parameters.items():
        decls = [d for d in getattr(param.default, "param_decls", None) or () if str(d).startswith("--")]
        if type(param.default).__name__ == "OptionInfo":
            out[name] = max(decls, key=len) if decls else "--" + name.replace("_", "-")
    return out


def console() -> Console:
    """Tables at the terminal's width; piped output gets room for whole rows."""
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def emit_json(doc: dict[str, Any]) -> None:
    """JSON on stdout; a number that is not finite is null (JSON has no NaN or infinity)."""
    typer.echo(dumps(doc))


def clean(x: float) -> float | None:
    """JSON has no NaN: a missing number is null."""
    return None if x is None or not np.isfinite(x) else float(x)


class Progress:
    """Progress of long work on stderr: a rich bar on a terminal, a plain line every few seconds elsewhere.

    Nothing appears for work shorter than a second. Off a terminal (a CI log, a pipe) a bar would stay
    invisible, so a background thread prints ``DESCRIPTION: DONE/TOTAL (ELAPSED s)`` every
    :attr:`every_s` seconds while the work lasts (even when one step takes minutes), and a last line at
    the end when it printed any.
    """

    every_s: float = 5.0

    def __init__(self, description: str, total: int) -> None:
        import threading

        from rich.progress import Progress

        self._description = description
        self._tty = sys.stderr.isatty()
        self._progress = Progress(console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(description, total=total, visible=False)
        self._t0 = time.monotonic()
        self._started = False
        self._done, self._total = 0, total
        self._lines = 0
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        if not self._tty:
            self._beat = threading.Thread(target=self._heartbeat, name="greenci-progress", daemon=True)
            self._beat.start()

    def update(self, done: int, total: int | None = None) -> None:
        self._done, self._total = done, self._total if total is None else total
        if not self._tty:
            return
        if not self._started and time.monotonic() - self._t0 > 1.0:
            self._progress.start()
            self._progress.update(self._task, visible=True)
            self._started = True
        self._progress.update(self._task, completed=done, total=total)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.every_s):
            self._line()

    def _line(self) -> None:
        self._lines += 1
        elapsed = time.monotonic() - self._t0
        print(f"{self._description}: {self._done}/{self._total} ({elapsed:.0f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            if self._lines:
                self._line()
        if self._started:
            self._progress.stop()


def waiting(what: str) -> None:
    """Say on stderr what greenci waits for (a remote service), before a wait that may last."""
    print(f"waiting for {what} ...", file=sys.stderr, flush=True)


def read_series(paths: Sequence[Path], column: str | None = None) -> list:
    """Read every file (directories expanded), with a progress bar for slow reads."""
    from greenci.sources import read_intensity

    files = expand(paths)
    bar = Progress("reading intensity files", len(files))
    series = []
    try:
        for i, f in enumerate(files):
            series.extend(read_intensity([f], column=column))
            bar.update(i + 1)
    finally:
        bar.close()
    return series


def expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or directory: check the path")
        if p.is_dir():
            from greenci.sources import intensity_files

            out.extend(intensity_files(p))
        else:
            out.append(p)
    if not out:
        raise InputError(f"no intensity files found in {', '.join(map(str, paths))}")
    return out


def int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{option} {text!r} must be comma-separated whole numbers, e.g. 1,6,24") from None
    if not values or min(values) <= 0:
        raise InputError(f"{option} {text!r} must list positive whole numbers, e.g. 1,6,24")
    return values


def expand_multi_values(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """``--trace a b --x`` -> ``--trace a --trace b --x``: several values after one option, as the README shows.

    Click takes one value per option occurrence; this repeats the option for every following value that
    is not an option itself. Everything after ``--`` (a command to run) is left as it is.
    """
    out: list[str] = []
    current: str | None = None
    for k, token in enumerate(args):
        if token == "--":
            out += list(args[k:])
            return out
        if token in names:
            current = token
            out.append(token)
            continue
        if current is not None and not token.startswith("-") and out and out[-1] != current:
            out += [current, token]
            continue
        if token.startswith("-"):
            current = None
        out.append(token)
    return out


class MultiValueGroup(typer.core.TyperGroup):
    """The root command: expands several values after one of :attr:`multi_value_options` before parsing."""

    multi_value_options: tuple[str, ...] = ()

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        import sys

        argv = list(sys.argv[1:] if args is None else args)
        return super().main(expand_multi_values(argv, self.multi_value_options), *a, **kw)
