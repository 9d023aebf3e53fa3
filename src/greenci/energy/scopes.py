"""What a power sensor covers, from its name: a whole node, one PSU, a CPU package, DRAM or a GPU.

Why one classifier: ``ipmitool sdr`` rows (``PS1 Input Power``, ``Pwr Consumption``), Redfish sensor ids
(``PS1InputPower``, ``power_total_power``) and TelemetryService metric ids (``TotalCPUPower``,
``SystemInputPower``) name the same things in different spellings, and labelling a per-part reading
``total`` is the bug issue 19 describes. Names are split into words first (``PS1InputPower`` ->
``ps1 input power``), then matched part before whole, so ``Total CPU Power`` is a CPU reading and
``CPU1 DIMM Power`` is DRAM.

Parts greenci has no word for (fans, disks, PCIe, voltage regulators) and names that are not a
consumption reading at all (``Power Cap``, ``Peak Power``, ``Avg Power`` over an unknown window) give
``None``: the caller skips them and says so, it never guesses ``total``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Scope", "classify", "names_other_part", "words"]


@dataclass(frozen=True)
class Scope:
    """The part a reading covers: ``component`` (shared vocabulary), ``unit`` (``PSU1``, ``CPU0``; empty for a
    whole node), ``rank`` (lower wins when several sensors read the same part) and a ``note`` for ``method``."""

    component: str
    unit: str = ""
    rank: int = 0
    note: str = ""


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[0-9])(?=[A-Za-z]{2})")
_NOT_A_READING = re.compile(r"\b(limit|cap|capping|capacity|budget|rating|rated|threshold|thresh|max|min|maximum|"
                            r"minimum|peak|avg|average|headroom|allocated|requested|available|reserve|redundancy|"
                            r"status|presence|fail|failure|efficiency)\b")
_PSU = re.compile(r"\b(?:psu|ps|pws|pwr supply|power supply)\s?(?:slot\s?)?(\d+)?\b")
_RAM = re.compile(r"\b(?:mem|memory|dimm|dimms|ddr\d?|dram)\b")
_GPU = re.compile(r"\b(?:gpu|accelerator)\s?(\d+)?\b")
_CPU = re.compile(r"\b(?:cpu|proc|processor|socket)\s?(?:socket\s?)?(\d+)?\b")
_OTHER = re.compile(r"\b(?:fan|fans|storage|hdd|disk|ssd|nvme|pcie|pci|nic|fpga|pch|vr|vrm|vdd|vcc|riser|io|"
                    r"backplane|other|drive|drives|raid|bmc|standby)\b")
_TOTAL = re.compile(r"\b(?:pwr consumption|pw consumption|power consumption|system level|sys(?:tem)? (?:input )?"
                    r"(?:power|pwr)|total (?:power|pwr)|power meter|node (?:power|pwr)|chassis (?:power|pwr)|"
                    r"platform (?:power|pwr)|server (?:power|pwr)|power consumed|consumed (?:power|watts)|"
                    r"(?:total|system|node|chassis|platform|server) energy|energy consumption)\b")
_OUTPUT = re.compile(r"\b(?:out|output|pout)\b")
# PDU and facility meters (Ceilometer / Gnocchi metric names, PDU exports)
_OUTLET = re.compile(r"\boutlet\s?([a-z]?\d+)?\b")
_CIRCUIT = re.compile(r"\b(?:circuit|branch)\s?(\d+)?\b")
_MAINS = re.compile(r"\b(?:mains|feed)\s?(\d+)?\b")  # not "inlet": Inlet Temp is a sensor of every BMC
_FACILITY = re.compile(r"\bfacility\b")
_IT = re.compile(r"\bit\b")


def words(name: str) -> str:
    """``PS1InputPower`` -> ``ps1 input power``; ``CPU0_Power`` -> ``cpu0 power`` (lower case, one space)."""
    spaced = _CAMEL.sub(" ", name)
    return " ".join(re.sub(r"[^0-9A-Za-z]+", " ", spaced).lower().split())


def _unit(prefix: str, number: str | None) -> str:
    return f"{prefix}{number}" if number else prefix


@lru_cache(maxsize=4096)  # a log repeats the same few sensor names in every call
def classify(name: str) -> Scope | None:
    """The scope of a power sensor named ``name``, or None when it is not one greenci can place."""
    text = words(name)
    if not text or _NOT_A_READING.search(text):
        return None
    if m := _PSU.search(text):
        if _OUTPUT.search(text):
            return Scope("psu", _unit("PSU", m.group(1)), 1, "PSU output (DC, after its conversion losses)")
        return Scope("psu", _unit("PSU", m.group(1)), 0)
    if _RAM.search(text):
        number = re.search(r"\b(?:cpu|socket)\s?(\d+)\b", text)
        return Scope("ram", _unit("MEM", number.group(1) if number else None))
    if m := _GPU.search(text):
        return Scope("gpu", _unit("GPU", m.group(1)))
    if m := _CPU.search(text):
        return Scope("cpu", _unit("CPU", m.group(1)))
    for component, pattern in (("outlet", _OUTLET), ("circuit", _CIRCUIT), ("mains", _MAINS)):
        if m := pattern.search(text):
            return Scope(component, _unit(component.upper(), m.group(1)))
    if _FACILITY.search(text):
        return Scope("facility")
    if _IT.search(text):
        return Scope("it")
    if _OTHER.search(text):
        return None
    if m := _TOTAL.search(text):
        # a node's own power meter before a board-level reading, e.g. Dell's "Pwr Consumption" before "System Level"
        return Scope("total", "", 1 if "system level" in m.group(0) else 0)
    if text in ("power", "pwr", "input power", "watts", "total", "energy"):
        return Scope("total", "", 2)
    return None


def names_other_part(name: str) -> bool:
    """True when ``name`` names a part greenci has no word for (a fan, a disk) or is not a consumption reading
    (a cap, a peak): such a sensor is skipped, never taken as a node's total."""
    text = words(name)
    return bool(_NOT_A_READING.search(text) or _OTHER.search(text))
