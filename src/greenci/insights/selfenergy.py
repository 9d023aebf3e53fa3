"""The energy of greenci's own analysis run: measured when it can be, otherwise a labelled estimate.

Why: a tool that asks CI to be greener should say what its own run cost. When :mod:`greenci.energy`
provides ``measure()`` (a context manager sampling this process tree; RAPL counters where readable,
else a utilisation power model), its reading is used and its method named: ``measured`` is True
only for a reading that is not a model. Without it (or if it fails) the fallback is an **estimate
from CPU time, not a measurement**:

    energy_kwh = (CPU seconds of this process + its finished child processes, e.g. git) x W_PER_CORE / 3.6e6

with ``W_PER_CORE`` = 10 W (a busy core of a current server or laptop CPU draws roughly 5-15 W; idle
power, memory, disks and the rest of the machine are not counted, so the estimate is a lower bound of
the whole machine's energy). Override it with ``GREENCI_W_PER_CORE``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

__all__ = ["DEFAULT_W_PER_CORE", "EnergyUse", "SelfEnergy"]

DEFAULT_W_PER_CORE = 10.0
ENV_W_PER_CORE = "GREENCI_W_PER_CORE"


@dataclass(frozen=True)
class EnergyUse:
    """What this run used: energy in kWh, how it was obtained, and the words to print beside it."""

    energy_kwh: float
    wall_s: float
    cpu_s: float
    measured: bool
    method: str

    def describe(self) -> str:
        """One line for people, e.g. ``0.0000042 kWh (estimated from CPU time, not measured: ...)``."""
        return f"{self.energy_kwh:.3g} kWh over {self.wall_s:.1f} s ({self.method})"

    def as_dict(self) -> dict[str, Any]:
        return {"energy_kwh": self.energy_kwh, "wall_s": self.wall_s, "cpu_s": self.cpu_s,
                "measured": self.measured, "method": self.method}


class SelfEnergy:
    """``with SelfEnergy() as e: ...`` then ``e.result`` holds the :class:`EnergyUse` of the block."""

    def __init__(self, w_per_core: float | None = None) -> None:
        self.w_per_core = w_per_core if w_per_core is not None else _w_per_core()
        self.result: EnergyUse | None = None
        self._cm: Any = None
        self._handle: Any = None
        self._note = ""

    def __enter__(self) -> SelfEnergy:
        self._t0 = time.monotonic()
        self._cpu0 = _cpu_s()
        try:
            from greenci.energy import measure  # type: ignore[attr-defined]
        except ImportError:
            measure = None
        if measure is not None:
            try:
                self._cm = measure()
                self._handle = self._cm.__enter__()
            except Exception as exc:  # noqa: BLE001 - a failing meter must not fail the analysis
                self._cm, self._note = None, f"greenci.energy.meter failed: {exc}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        measured = None
        if self._cm is not None:
            try:
                self._cm.__exit__(exc_type, exc, tb)
                measured = _reading(self._handle) or _reading(self._cm)
            except Exception as err:  # noqa: BLE001
                self._note = f"greenci.energy.meter failed: {err}"
        wall = time.monotonic() - self._t0
        cpu = max(0.0, _cpu_s() - self._cpu0)
        if measured is not None:
            kwh, method, note = measured
            real = "model" not in method.lower()  # a utilisation power model is an estimate, and says so
            words = "measured by greenci.energy" if real else "estimated by greenci.energy"
            self.result = EnergyUse(kwh, wall, cpu, real, f"{words}: {note or 'method ' + method}")
            return
        note = f"; {self._note}" if self._note else ""
        self.result = EnergyUse(
            energy_kwh=cpu * self.w_per_core / 3.6e6, wall_s=wall, cpu_s=cpu, measured=False,
            method=(f"estimated from CPU time, not measured: {cpu:.2f} CPU s x {self.w_per_core:g} W per busy core"
                    f"{note}"),
        )


def _reading(obj: Any) -> tuple[float, str, str] | None:
    """An energy reading from whatever ``measure()`` yields (a record, or an object holding one)."""
    for candidate in (obj, getattr(obj, "record", None), getattr(obj, "result", None)):
        value = getattr(candidate, "energy_kwh", None)
        if callable(value):
            value = value()
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            method = getattr(candidate, "method", None) or getattr(candidate, "source", None) or "meter"
            return float(value), str(method), str(getattr(candidate, "method_note", "") or "")
    return None


def _cpu_s() -> float:
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def _w_per_core() -> float:
    from greenci.errors import ConfigError

    raw = os.environ.get(ENV_W_PER_CORE)
    if raw is None:
        return DEFAULT_W_PER_CORE
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{ENV_W_PER_CORE}={raw!r} is not a number: give watts per busy core, e.g. 10") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{ENV_W_PER_CORE}={raw!r} must be a positive number of watts, e.g. 10")
    return value
