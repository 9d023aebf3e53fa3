"""Runner pools: how many runners (nodes) each region has and what one draws idle, busy and to start.

Why a file of its own: every replay used to assume unlimited capacity, which sends most jobs to the one
cleanest zone, something no real fleet could take. ``simulate --pools``, the service (which reserves
runners) and the scale plans all read the same file, so they all assume the same fleet.

The file (YAML, or JSON with the same structure)::

    pools:
      GB:    {runners: 8, idle_w: 60, busy_w: 180, start_s: 90, start_kwh: 0.005, min_runners: 1}
      DE-LU: {runners: 4, idle_w: 60, busy_w: 180}

Errors name the region and the field, e.g. ``pools.GB.runners: 0 must be at least 1``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenci.errors import DataFormatError, InputError

__all__ = ["POOL_FIELDS", "PoolSet", "RunnerPool", "pools_from_mapping", "read_pools"]

#: the keys a pool may have, and whether each is required
POOL_FIELDS: dict[str, bool] = {"runners": True, "idle_w": True, "busy_w": True, "start_s": False,
                                "start_kwh": False, "min_runners": False}


@dataclass(frozen=True)
class RunnerPool:
    """One region's runners: size, idle and busy power of one node, and what starting a node costs."""

    region: str  # grid zone, e.g. "GB"
    runners: int  # concurrent runners (nodes) in the pool, >= 1
    idle_w: float  # power of one idle node (W), >= 0
    busy_w: float  # power of one busy node (W), >= idle_w
    start_s: float = 0.0  # time to start a node (s)
    start_kwh: float = 0.0  # energy to start a node (kWh)
    min_runners: int = 0  # a scale plan never goes below this

    def __post_init__(self) -> None:
        where = f"pools.{self.region}"
        if not isinstance(self.region, str) or not self.region.strip():
            raise InputError(f"pools: region {self.region!r} must be a non-empty zone name, e.g. GB",
                             field="pools")
        _check_int(self.runners, f"{where}.runners", low=1)
        _check_int(self.min_runners, f"{where}.min_runners", low=0)
        for name in ("idle_w", "busy_w", "start_s", "start_kwh"):
            _check_number(getattr(self, name), f"{where}.{name}")
        if self.busy_w < self.idle_w:
            raise InputError(f"{where}.busy_w: {self.busy_w:g} is below idle_w {self.idle_w:g}: a busy node draws at "
                             "least what an idle one does; give busy_w >= idle_w", field=f"{where}.busy_w")
        if self.min_runners > self.runners:
            raise InputError(f"{where}.min_runners: {self.min_runners} is above runners {self.runners}: give "
                             "min_runners <= runners", field=f"{where}.min_runners")


@dataclass(frozen=True)
class PoolSet:
    """The pools of a fleet, one per region, and where they were read from (a file, "built-in", "synthetic").

    Named ``PoolSet`` because :mod:`greenci.scheduling.strategies` already has a ``RunnerPools`` protocol
    (a region's capacity and the runners a service's decisions hold).
    """

    pools: tuple[RunnerPool, ...]
    source: str

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for pool in self.pools:
            if pool.region in seen:
                raise InputError(f"pools.{pool.region}: duplicate region (given twice): give each region one pool",
                                 field=f"pools.{pool.region}")
            seen.add(pool.region)

    def get(self, region: str) -> RunnerPool | None:
        """The pool of ``region``, or None when the fleet has none there (unlimited)."""
        for pool in self.pools:
            if pool.region == region:
                return pool
        return None

    def sizes(self) -> dict[str, int]:
        """Runners per region (what ``StrategyOptions.capacity`` and ``ServiceSettings.capacity`` take)."""
        return {pool.region: pool.runners for pool in self.pools}

    def capacity(self, regions: Sequence[str]) -> np.ndarray:
        """Runners of each of ``regions`` in that order (int64); a region with no pool is -1 (unlimited)."""
        sizes = self.sizes()
        return np.array([sizes.get(r, -1) for r in regions], dtype=np.int64)

    def describe(self) -> str:
        """One line for a report: which pools were assumed and where they came from."""
        parts = ", ".join(f"{p.region}={p.runners}" for p in self.pools)
        return f"runner pools {parts} (from {self.source}); other regions unlimited"


def read_pools(path: str | os.PathLike[str]) -> PoolSet:
    """The pools of a YAML (.yaml/.yml) or JSON (.json) file; any fault is an error naming the file and field."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in (".yaml", ".yml", ".json"):
        raise InputError(f"{name}: a pools file must end in .yaml, .yml or .json (got {ext or 'no extension'!r})",
                         field="pools")
    try:
        with open(name, encoding="utf-8-sig") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path of the pools file", field="pools") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory: give the pools file", field="pools") from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: save the pools file as UTF-8", path=name, field="pools") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check its permissions", field="pools") from None
    if not text.strip():
        raise DataFormatError("is empty: give a 'pools:' mapping of region -> {runners, idle_w, busy_w}",
                              path=name, field="pools")
    doc = _parse_json(text, name) if ext == ".json" else _parse_yaml(text, name)
    try:
        return pools_from_mapping(doc, source=name)
    except InputError as exc:
        raise DataFormatError(str(exc), path=name, field=exc.field if isinstance(exc.field, str) else "pools") \
            from None


def pools_from_mapping(doc: Any, *, source: str) -> PoolSet:
    """The pools of an already parsed document ``{"pools": {REGION: {...}}}`` (a service body, a test)."""
    if not isinstance(doc, Mapping) or "pools" not in doc:
        raise InputError("pools: the document must be a mapping with a top-level 'pools:' key (region -> pool)",
                         field="pools")
    extra = sorted(str(k) for k in doc if k != "pools")
    if extra:
        raise InputError(f"pools: unknown top-level key(s) {', '.join(extra)}: only 'pools' is read; remove them",
                         field="pools")
    body = doc["pools"]
    if not isinstance(body, Mapping) or not body:
        raise InputError("pools: must map at least one region to {runners, idle_w, busy_w}, e.g. "
                         "GB: {runners: 8, idle_w: 60, busy_w: 180}", field="pools")
    pools = []
    for region, spec in body.items():
        if isinstance(region, bool):  # YAML 1.1 reads a bare NO (Norway), YES, ON or OFF as a boolean
            raise InputError(f"pools: a region key was read as {region!r}: quote zone names such as 'NO' "
                             "(YAML reads a bare NO as false)", field="pools")
        if not isinstance(region, str) or not region.strip():
            raise InputError(f"pools: region {region!r} must be a zone name such as GB", field="pools")
        pools.append(_pool(region, spec))
    return PoolSet(tuple(pools), source)


def _pool(region: str, spec: Any) -> RunnerPool:
    where = f"pools.{region}"
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: must be a mapping such as {{runners: 8, idle_w: 60, busy_w: 180}}, "
                         f"not {spec!r}", field=where)
    unknown = sorted(str(k) for k in spec if k not in POOL_FIELDS)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown key; a pool takes {', '.join(POOL_FIELDS)}",
                         field=f"{where}.{unknown[0]}")
    for key, required in POOL_FIELDS.items():
        if required and key not in spec:
            raise InputError(f"{where}.{key}: missing; give it (e.g. runners: 8, idle_w: 60, busy_w: 180)",
                             field=f"{where}.{key}")
    return RunnerPool(region=region, **{k: spec[k] for k in POOL_FIELDS if k in spec})


def _check_int(value: Any, where: str, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{where}: {value!r} must be a whole number >= {low}", field=where)
    if value < low:
        raise InputError(f"{where}: {value} must be at least {low}", field=where)


def _check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: {value!r} must be a number >= 0", field=where)
    if not math.isfinite(float(value)) or value < 0:
        raise InputError(f"{where}: {value!r} must be a finite number >= 0", field=where)


def _duplicate(key: Any) -> str:
    return f"pools: duplicate key {key!r} (given twice in one mapping): give each region and each field once"


def _dup_field(key: Any) -> str:
    return "pools"


def _parse_json(text: str, name: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise DataFormatError(_duplicate(key), path=name, field=_dup_field(key))
            out[key] = value
        return out

    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=pairs)
    except (json.JSONDecodeError, ValueError) as exc:
        line = f"line {exc.lineno}, column {exc.colno}: " if isinstance(exc, json.JSONDecodeError) else ""
        raise DataFormatError(f"{line}not valid JSON ({exc.args[0] if exc.args else exc}): fix the file's syntax",
                              path=name, field="pools") from None


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a number JSON allows")


def _parse_yaml(text: str, name: str) -> Any:
    import yaml  # only when a YAML file is read: importing greenci loads no parser

    class _Loader(yaml.SafeLoader):
        """safe_load, except that a key given twice is an error (safe_load keeps the last one silently)."""

    def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                mark = key_node.start_mark
                raise DataFormatError(f"line {mark.line + 1}, column {mark.column + 1}: {_duplicate(key)}",
                                      path=name, field=_dup_field(key))
            out[key] = loader.construct_object(value_node, deep=True)
        return out

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or type(exc).__name__).split())
        raise DataFormatError(f"{where}not valid YAML ({problem}): fix the file's syntax there", path=name,
                              field="pools") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(f"not valid YAML ({first}): fix the file's syntax", path=name, field="pools") from None
