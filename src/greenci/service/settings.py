"""What a service instance is configured with: where it stores jobs, where its intensity comes from."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

from greenci.errors import InputError
from greenci.service.dispatch import DispatchSettings
from greenci.service.priority import DEFAULT_CLASSES, PriorityClass
from greenci.study import STUDY_REGIONS


@dataclass(frozen=True)
class ServiceSettings:
    """One service instance.

    ``database_url``: an SQLAlchemy URL (default: an SQLite file ``greenci.db`` in ``data_dir``).
    ``intensity``: intensity files or folders the forecasts are fitted on; ``source``: an API name instead
    (with the fallback chain); neither: the synthetic model, labelled so in every decision.
    ``history``: trace files whose runs seed the duration estimates before the first completed job.
    ``dispatch``: how deferred jobs are started (webhook secret, GitHub token, the allowed command).
    """

    data_dir: Path = Path("greenci-data")
    database_url: str | None = None
    regions: tuple[str, ...] = STUDY_REGIONS
    intensity: tuple[Path, ...] = ()
    source: str | None = None
    forecast: str = "ridge"
    buffer_h: float = 6.0
    history: tuple[Path, ...] = field(default_factory=tuple)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    dispatcher: bool = True  # run a dispatcher in this process (several processes may share one PostgreSQL)
    auth: bool = True  # API tokens required (greenci token create); off: one tenant "default", every scope
    public_reads: bool = False  # forecasts and the Carbon Aware SDK endpoints without a token
    rate_per_s: float = 100.0  # requests per second per token, sustained
    rate_burst: int = 200
    refresh_s: float = 120.0  # with an API source: how often the forecasts are fetched in the background
    keepalive_requests: int = 100  # a connection is closed after this many requests (workers share the load)
    batch_interval_s: float = 0.008  # decision batches start at least this far apart (batching.py: why)
    capacity: dict[str, int] = field(default_factory=dict)  # runners per region (a region not named: unlimited)
    classes: dict[str, PriorityClass] | None = None  # None: the defaults, 'normal' waiting up to buffer_h
    tenant_classes: dict[str, dict[str, PriorityClass]] = field(default_factory=dict)  # a tenant's own classes

    def classes_of(self, tenant: str) -> dict[str, PriorityClass]:
        """The priority classes a tenant's jobs may name."""
        return self.tenant_classes.get(tenant, self.service_classes)

    @functools.cached_property
    def service_classes(self) -> dict[str, PriorityClass]:
        """The service's classes: those given, else the defaults with 'normal' waiting up to ``buffer_h``."""
        if self.classes is not None:
            return self.classes
        return {**DEFAULT_CLASSES, "normal": replace(DEFAULT_CLASSES["normal"], max_wait_s=self.buffer_h * 3600)}

    def __post_init__(self) -> None:
        if not self.regions:
            raise InputError("regions is empty: list the grid zones the service may place jobs in", field="regions")
        bad = {r: n for r, n in self.capacity.items() if not (isinstance(n, int) and n >= 1)}
        if bad:
            raise InputError(f"capacity {bad}: give at least 1 runner per region", field="capacity")
        if not (isinstance(self.keepalive_requests, int) and self.keepalive_requests >= 1):
            raise InputError(f"keepalive_requests {self.keepalive_requests!r} must be at least 1",
                             field="keepalive_requests")
        if not 0 <= self.batch_interval_s <= 1:
            raise InputError(f"batch_interval_s {self.batch_interval_s!r} must be between 0 and 1 s",
                             field="batch_interval_s")
        if self.source and self.intensity:
            raise InputError("give intensity files or an API source, not both", field=("intensity", "source"))

    @property
    def url(self) -> str:
        """The database URL in use."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'greenci.db').resolve()}"
