"""The ``greenci`` command line: thin Typer shells that parse, call a use case and render (Typer + rich).

One module per command group (:mod:`~greenci.cli.basics`, :mod:`~greenci.cli.scheduling`,
:mod:`~greenci.cli.traces`, :mod:`~greenci.cli.energy`, :mod:`~greenci.cli.insights`,
:mod:`~greenci.cli.service`); each registers its
commands on the app and imports its heavy libraries only when a command runs. Errors from greenci
(``GreenciError``) print as one line on stderr, without a traceback, and exit with the error's own code.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from greenci.cli import basics, ci, energy, gate, insights, planning, scale, scheduling, service, skip, traces
from greenci.cli.support import MultiValueGroup


class _Root(MultiValueGroup):
    #: options that take several files after one flag (``--trace a.csv b.csv``), as the README shows
    multi_value_options = ("--trace", "--history", "--intensity")


app = typer.Typer(cls=_Root, no_args_is_help=False, add_completion=False, pretty_exceptions_enable=False,
                  help="greenci: measure, schedule and simulate the carbon footprint of CI/CD work.")
for _group in (basics, scheduling, planning, traces, energy, insights, service, ci, gate, skip, scale):
    _group.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="greenci")
