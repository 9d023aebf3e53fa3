"""The scheduler service: an HTTP API over the decision layer, with a durable job store (``greenci[service]``).

``create_app(settings)`` builds the FastAPI app (no global state); ``greenci serve`` runs it with uvicorn.
A CI workflow posts a job, gets a decision (region, start, expected gCO2eq, reason), and reports when the
job started and completed; completed runs join the history the next estimate uses.
"""

from __future__ import annotations

from greenci.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]


def create_app(settings: ServiceSettings):  # type: ignore[no-untyped-def]  # noqa: ANN201 - FastAPI is optional
    """The FastAPI app for ``settings`` (imported here so that ``import greenci.service`` stays light)."""
    from greenci.service.app import create_app as build

    return build(settings)
