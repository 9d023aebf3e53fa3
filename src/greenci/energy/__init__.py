"""Energy of CI work: measure a command or a block, and read infrastructure telemetry into records.

* :func:`run_measured` / ``greenci measure -- CMD``: run a command, sample its process tree, and return
  kWh by CPU/RAM/GPU, facility kWh after PUE and gCO2eq (:class:`MeasureResult`).
* :func:`measure`: the same for a block of Python (context manager) or a function (decorator).
* Method: RAPL package counters when readable, else a utilisation power model from the CPU's TDP
  (:mod:`~greenci.energy.cpu_tdp`); :func:`select_method` says which and why.
* Readers into :class:`EnergyRecord` / :class:`UsageRecord`: :mod:`~greenci.energy.ipmi` (``ipmitool dcmi
  power reading``), :mod:`~greenci.energy.redfish` (Power, PowerSubsystem, EnvironmentMetrics, Sensors),
  :mod:`~greenci.energy.pdu` (CSV exports), :mod:`~greenci.energy.gnocchi` (OpenStack Gnocchi with
  Keystone) and :mod:`~greenci.energy.ceilometer` (v2 samples). Import them from their modules: they
  load httpx and pandas only then.
* Sinks: :class:`RecordSink` (``write(records)``), :class:`CsvSink`, :class:`ParquetSink`, :func:`open_sink`.

Importing this package loads NumPy and greenci's core only: psutil, pynvml and httpx load when used.
"""

from greenci.energy.meter import (
    CommandNotExecutableError,
    CommandNotFoundError,
    Measurement,
    MeasureOptions,
    MeasureResult,
    MethodChoice,
    measure,
    run_measured,
    select_method,
)
from greenci.energy.power_model import PowerModel, PowerProfile, profile_from_samples
from greenci.energy.records import (
    CsvSink,
    EnergyRecord,
    ParquetSink,
    RecordSink,
    UsageRecord,
    open_sink,
    read_records,
    to_intervals,
    total_energy_kwh,
)

__all__ = [
    "CommandNotExecutableError",
    "CommandNotFoundError",
    "CsvSink",
    "EnergyRecord",
    "MeasureOptions",
    "MeasureResult",
    "Measurement",
    "MethodChoice",
    "ParquetSink",
    "PowerModel",
    "PowerProfile",
    "RecordSink",
    "UsageRecord",
    "measure",
    "open_sink",
    "profile_from_samples",
    "read_records",
    "run_measured",
    "select_method",
    "to_intervals",
    "total_energy_kwh",
]
