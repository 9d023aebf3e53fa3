"""A Typer app holding one of greenci's command groups, registered as the CLI registers it, and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import typer


def shell(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """The group ``register`` adds, under a root app of its own (tracebacks are not prettified)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test shell"""

    register(app)
    return app
