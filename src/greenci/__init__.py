"""greenci: carbon-aware CI/CD — measure, schedule, simulate and explain the emissions of CI work.

Importing greenci loads NumPy only; pandas, httpx, plotting and the CLI load when used.
"""

from greenci.accounting import (
    Footprint,
    emissions_g,
    energy_kwh,
    facility_energy_kwh,
    footprint,
    profile_emissions_g,
    pue,
)
from greenci.energy import MeasureResult, measure, run_measured
from greenci.errors import (
    AuthenticationError,
    ConfigError,
    DataFormatError,
    GapError,
    GreenciError,
    InputError,
    SignalMismatchError,
    SourceError,
)
from greenci.grid import BestWindow, IntensityGrid, IntensitySeries

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BestWindow",
    "ConfigError",
    "DataFormatError",
    "Footprint",
    "GapError",
    "GreenciError",
    "InputError",
    "IntensityGrid",
    "IntensitySeries",
    "MeasureResult",
    "SignalMismatchError",
    "SourceError",
    "__version__",
    "emissions_g",
    "energy_kwh",
    "facility_energy_kwh",
    "footprint",
    "measure",
    "profile_emissions_g",
    "pue",
    "run_measured",
]
