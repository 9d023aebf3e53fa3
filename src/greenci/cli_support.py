"""What every greenci command group shares: clean error exits and the output-format choice."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console

from greenci.errors import GreenciError


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a GreenciError as one line on stderr and exit with its code, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GreenciError as exc:
            Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper
