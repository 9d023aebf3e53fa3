"""Imports point down (DESIGN.md): shells call use cases; the core never imports a shell, a report or the replay."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "greenci"


def _imports(path: Path) -> set[str]:
    """Every ``greenci...`` module a file imports, at any depth (lazy imports inside functions too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "greenci" or m.startswith("greenci.")}


def _files(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in ((SRC / part).rglob("*.py") if (SRC / part).is_dir()
                                                 else [SRC / part]))


RULES = [
    # (files, forbidden module prefixes, why)
    (("scheduling", "grid.py", "jobs.py", "forecast.py", "accounting.py", "simulation.py", "sweep.py", "study.py",
      "tracegen.py", "workflows", "energy", "insights", "sources", "traces", "usecases"),
     ("greenci.cli",), "no domain package or use case imports a CLI module"),
    (("scheduling",), ("greenci.simulation", "greenci.sweep", "greenci.report", "greenci.simulation_report",
                       "greenci.sources", "greenci.usecases"), "deciding needs no replay, report, reader or use case"),
    (("grid.py", "accounting.py", "jobs.py"), ("greenci.sources", "greenci.scheduling", "greenci.simulation",
                                               "greenci.usecases"), "the core takes records in"),
    (("energy",), ("greenci.sources",), "measurement takes intensity in, it does not read files"),
    (("insights",), ("greenci.sources",), "insights take data in, not the readers"),
    (("traces",), ("greenci.sources",), "CI histories are not intensity sources"),
    (("sources", "traces", "http.py", "timeutil.py", "csvutil.py"), ("greenci.scheduling", "greenci.usecases"),
     "readers know nothing of decisions"),
]


@pytest.mark.parametrize(("parts", "forbidden", "why"), RULES, ids=[r[2] for r in RULES])
def test_imports_point_down(parts: tuple[str, ...], forbidden: tuple[str, ...], why: str) -> None:
    broken = [f"{f.relative_to(SRC)} imports {m}" for f in _files(*parts) for m in sorted(_imports(f))
              if any(m == b or m.startswith(b + ".") for b in forbidden)]
    assert not broken, f"{why}: " + "; ".join(broken)


def test_no_module_imports_the_package_face() -> None:
    """A leaf never imports ``greenci`` itself (its ``__init__`` imports the leaves: a cycle in waiting)."""
    broken = [str(f.relative_to(SRC)) for f in _files("") if f.name != "__init__.py" or f.parent != SRC
              if "greenci" in _imports(f)]
    assert not broken


def test_package_init_files_import_no_private_helper() -> None:
    broken = []
    for init in SRC.rglob("__init__.py"):
        for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("greenci"):
                broken += [f"{init.relative_to(SRC)}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not broken
