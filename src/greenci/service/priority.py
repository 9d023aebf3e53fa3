"""Priority classes and their wait-time objectives: low-latency jobs run now, non-critical work waits.

A class says how long its jobs may wait at most (``max_wait_s``), whether they are opted in to waiting
even when someone waits for them (``carbon_aware``), and the share of its jobs that must start within the
maximum wait (``target_share``). The service has default classes and may give a tenant its own;
``/v1/stats`` reports each class's attainment against its target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from greenci.errors import InputError

__all__ = ["DEFAULT_CLASSES", "PriorityClass", "attainment", "class_for"]


@dataclass(frozen=True)
class PriorityClass:
    name: str
    max_wait_s: float
    target_share: float
    carbon_aware: bool | None = None  # False: never delayed; True: may wait even if someone waits for it

    def __post_init__(self) -> None:
        if not 0 <= self.max_wait_s <= 7 * 86400:
            raise InputError(f"priority class {self.name}: max_wait_s {self.max_wait_s} must be 0 .. 7 days",
                             field="classes")
        if not 0 < self.target_share <= 1:
            raise InputError(f"priority class {self.name}: target_share {self.target_share} must be in (0, 1]",
                             field="classes")


DEFAULT_CLASSES: dict[str, PriorityClass] = {
    "critical": PriorityClass("critical", 0.0, 0.99, carbon_aware=False),
    "normal": PriorityClass("normal", 6 * 3600.0, 0.95),
    "flexible": PriorityClass("flexible", 24 * 3600.0, 0.90, carbon_aware=True),
}


def class_for(name: str, classes: dict[str, PriorityClass]) -> PriorityClass:
    try:
        return classes[name]
    except KeyError:
        raise InputError(f"priority {name!r} is not a class of this service: use one of {', '.join(classes)}",
                         field="priority") from None


def attainment(counts: dict[str, tuple[int, int]], classes: dict[str, PriorityClass]) -> dict[str, Any]:
    """Per class: jobs, how many started (or are planned to start) within the class's maximum wait, the
    share, the target and whether it is met. ``counts``: class name -> (jobs, within the maximum wait)."""
    out: dict[str, Any] = {}
    for name, cls in classes.items():
        n, within = counts.get(name, (0, 0))
        share = within / n if n else None
        out[name] = {"jobs": n, "within_max_wait": within, "share": share, "max_wait_s": cls.max_wait_s,
                     "target_share": cls.target_share, "met": None if share is None else share >= cls.target_share}
    return out
