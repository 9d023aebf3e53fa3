"""What every greenci command group shares: clean error exits, output formats, progress bars, reading inputs."""

from __future__ import annotations

import functools
import json
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
            Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {in_cli_terms(exc, options)}",
                                                       highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def in_cli_terms(exc: GreenciError, options: dict[str, str]) -> str:
    """The message with the request field it is about named as the command's option (``--energy-kwh``)."""
    text = str(exc)
    option = options.get(exc.field or "")
    return text.replace(exc.field, option, 1) if option and exc.field else text


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
    typer.echo(json.dumps(finite(doc), indent=2, default=json_default, allow_nan=False))


def finite(o: Any) -> Any:
    """``o`` with every non-finite float (NaN, infinities) as None, NumPy scalars as Python ones."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    if isinstance(o, np.generic):
        return finite(o.item())
    return o


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.datetime64):
        return str(o) + "Z"
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def clean(x: float) -> float | None:
    """JSON has no NaN: a missing number is null."""
    return None if x is None or not np.isfinite(x) else float(x)


class Progress:
    """A rich progress bar that appears only when work lasts longer than a second."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(description, total=total, visible=False)
        self._t0 = time.monotonic()
        self._started = False

    def update(self, done: int, total: int | None = None) -> None:
        if not self._started and time.monotonic() - self._t0 > 1.0 and sys.stderr.isatty():
            self._progress.start()
            self._progress.update(self._task, visible=True)
            self._started = True
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._started:
            self._progress.stop()


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


def grids_by_region(series: list) -> list:
    """One grid per region, each on its own step and span (for describing files side by side)."""
    from greenci.grid import IntensityGrid

    by_region: dict[str, list] = {}
    for s in series:
        by_region.setdefault(s.region, []).append(s)
    return [IntensityGrid.from_series(parts) for parts in by_region.values()]


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
