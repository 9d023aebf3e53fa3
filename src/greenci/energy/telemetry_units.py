"""Units, scopes and counters shared by the OpenStack telemetry readers (Ceilometer, Gnocchi).

Why one module: a Ceilometer sample and a Gnocchi metric both carry a free-text unit (``W``, ``kW``,
``kWh``, ``J``...) and a meter name that says what the number covers (``hardware.ipmi.node.power`` is
the whole node, ``ps1_input_power`` one power supply). Both readers must agree on which units are
power, which are energy, and which scope a name means, or the same payload read two ways would give
two answers. The component words are issue 19's shared vocabulary (see
:class:`~greenci.energy.records.EnergyRecord`).

``mW`` and ``MW`` differ only in case: the case is kept, and a lower-case ``mw`` / ``mwh`` is refused as
ambiguous rather than guessed.
"""

from __future__ import annotations

import numpy as np

from greenci.energy.scopes import classify
from greenci.errors import InputError

__all__ = ["COMPONENTS", "component_from_name", "counter_intervals", "energy_factor_kwh", "power_factor_w"]

#: the component words of issue 19 (what a reading covers)
COMPONENTS = ("total", "psu", "cpu", "ram", "gpu", "outlet", "circuit", "mains", "facility", "it")

_POWER_W = {"W": 1.0, "w": 1.0, "watt": 1.0, "watts": 1.0, "Watt": 1.0, "Watts": 1.0,
            "kW": 1e3, "KW": 1e3, "kw": 1e3, "Kw": 1e3, "mW": 1e-3, "MW": 1e6}
_ENERGY_KWH = {"kWh": 1.0, "KWh": 1.0, "kwh": 1.0, "Wh": 1e-3, "wh": 1e-3, "mWh": 1e-6, "MWh": 1e3,
               "J": 1 / 3.6e6, "j": 1 / 3.6e6, "kJ": 1 / 3.6e3, "KJ": 1 / 3.6e3, "kj": 1 / 3.6e3,
               "MJ": 1 / 3.6, "mJ": 1 / 3.6e9}
_AMBIGUOUS = {"mw": "mW (milliwatts) or MW (megawatts)", "mwh": "mWh or MWh", "mj": "mJ or MJ"}



def _unit(text: object) -> str:
    return str(text or "").strip()


def power_factor_w(unit: object, *, where: str = "unit") -> float | None:
    """Watts per unit for a power unit (``W``, ``kW``, ``mW``, ``MW``), None for any other unit."""
    u = _unit(unit)
    if u.lower() in _AMBIGUOUS and u not in _POWER_W and u not in _ENERGY_KWH:
        raise InputError(f"{where} {u!r} is ambiguous: write {_AMBIGUOUS[u.lower()]} with its case", field="unit")
    return _POWER_W.get(u)


def energy_factor_kwh(unit: object, *, where: str = "unit") -> float | None:
    """kWh per unit for an energy unit (``kWh``, ``Wh``, ``MWh``, ``J``, ``kJ``, ``MJ``), None otherwise."""
    u = _unit(unit)
    if u.lower() in _AMBIGUOUS and u not in _POWER_W and u not in _ENERGY_KWH:
        raise InputError(f"{where} {u!r} is ambiguous: write {_AMBIGUOUS[u.lower()]} with its case", field="unit")
    return _ENERGY_KWH.get(u)


def component_from_name(*names: object) -> str:
    """The component a meter or sensor name covers: the first of ``names`` that names a part wins.

    One classifier for every reader (:func:`greenci.energy.scopes.classify`): ``ps1_input_power`` is
    ``psu``, ``cpu0.power`` ``cpu``, ``dram_power`` ``ram``, ``pdu.outlet.power`` ``outlet``. A meter that
    names no part (``hardware.ipmi.node.power``, ``compute.node.power``) is the node's ``total``.
    """
    for name in names:
        scope = classify(str(name or ""))
        if scope is not None and scope.component != "total":
            return scope.component
    return "total"


def counter_intervals(times_s: np.ndarray, kwh: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Interval energy from one cumulative counter: ``(index of each kept interval's start, kWh, resets)``.

    ``times_s`` (sorted, epoch seconds) and ``kwh`` are one counter's readings. Interval ``i`` runs from
    reading ``i`` to ``i + 1`` and holds their difference. A counter that falls was reset (a BMC reboot,
    an agent restart): what it counted between the last reading and the reset is unknown, so that
    interval is left out (a gap, never a guess) and counted in ``resets``. Intervals of zero length
    (two readings at one instant) are left out too.
    """
    if len(times_s) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0), 0
    delta = np.diff(kwh)
    span = np.diff(times_s)
    reset = delta < 0
    keep = ~reset & (span > 0)
    return np.flatnonzero(keep), delta[keep], int(reset.sum())
