"""The small protocols a use case takes from its caller: where intensity, run history and decisions go.

Why protocols: the CLI, the service and the CI integration each wire different implementations (files
or an API with a fallback chain; a trace or a SQL store; nothing, a JSON-lines file or a table), and the
use cases must not care which. Implementations here are the in-memory and file ones every caller can use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from greenci.errors import InputError
from greenci.forecast import ForecastProvider
from greenci.jobs import HistoryIndex, RunHistory
from greenci.jsonsafe import finite
from greenci.outputs import append_line, check_file
from greenci.scheduling.planner import Decision

__all__ = ["DecisionSink", "ForecastProvider", "HistoryIndex", "JsonLinesSink", "MemorySink", "RunHistoryStore"]


@runtime_checkable
class RunHistoryStore(Protocol):
    """Earlier runs, strictly before an instant, of a job, its workflow and its repository."""

    def runs(self, repo: str, workflow: str, job_name: str, before_s: int) -> RunHistory: ...

    def workflow_runs(self, repo: str, workflow: str, before_s: int) -> RunHistory: ...

    def repo_runs(self, repo: str, before_s: int) -> RunHistory: ...


@runtime_checkable
class DecisionSink(Protocol):
    """Where decisions are recorded (a log, a store the dispatcher reads)."""

    def record(self, decision: Decision) -> None: ...


class MemorySink:
    """Keeps decisions in a list (tests, batch callers)."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def record(self, decision: Decision) -> None:
        self.decisions.append(decision)


class JsonLinesSink:
    """Appends each decision as one JSON line to a file (one ``write`` per line, so lines never interleave)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = check_file(Path(path), field="record")

    def record(self, decision: Decision) -> None:
        line = json.dumps(finite(decision.to_dict()), allow_nan=False, default=str)
        try:
            append_line(self.path, line)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot be written ({exc.strerror}): give a writable file",
                             field="record") from None
