"""The app for ``uvicorn --workers N``: each worker process builds it from the settings ``greenci serve``
put in ``GREENCI_SERVICE_SETTINGS`` (JSON), since worker processes are started by import string."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from greenci.errors import ConfigError
from greenci.service.dispatch import DispatchSettings
from greenci.service.priority import PriorityClass
from greenci.service.settings import ServiceSettings

ENV = "GREENCI_SERVICE_SETTINGS"


def settings_to_json(settings: ServiceSettings) -> str:
    doc: dict[str, Any] = {}
    for f in fields(settings):
        v = getattr(settings, f.name)
        if isinstance(v, DispatchSettings):
            v = {g.name: getattr(v, g.name) for g in fields(v)}
        elif f.name == "classes" and v is not None:
            v = {name: _class_doc(c) for name, c in v.items()}
        elif f.name == "tenant_classes":
            v = {t: {name: _class_doc(c) for name, c in cs.items()} for t, cs in v.items()}
        elif isinstance(v, tuple):
            v = [str(x) for x in v]
        elif isinstance(v, Path):
            v = str(v)
        doc[f.name] = v
    return json.dumps(doc)


def _class_doc(c: PriorityClass) -> dict[str, Any]:
    return {g.name: getattr(c, g.name) for g in fields(c)}


def settings_from_json(text: str) -> ServiceSettings:
    doc = json.loads(text)
    paths = {"data_dir"}
    tuples_of_paths = {"intensity", "history"}
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if k in paths:
            v = Path(v)
        elif k in tuples_of_paths:
            v = tuple(Path(x) for x in v)
        elif k == "regions":
            v = tuple(v)
        elif k == "classes" and v is not None:
            v = {name: PriorityClass(**c) for name, c in v.items()}
        elif k == "tenant_classes":
            v = {t: {name: PriorityClass(**c) for name, c in cs.items()} for t, cs in v.items()}
        elif k == "dispatch":
            v = DispatchSettings(**{**v, "command": tuple(v["command"]) if v.get("command") else None})
        out[k] = v
    return ServiceSettings(**out)


def app() -> Any:
    """The ASGI app of this worker (``uvicorn --factory greenci.service.asgi:app``)."""
    text = os.environ.get(ENV)
    if not text:
        raise ConfigError(f"{ENV} is not set: start workers with greenci serve --workers N")
    from greenci.service.app import create_app

    return create_app(settings_from_json(text))
