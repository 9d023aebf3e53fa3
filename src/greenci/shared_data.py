"""Find the real data folder (``../shared/data``) that tests, benchmarks and evaluations may read.

greenci never ships these files. They are found at ``$GREENCI_SHARED`` (the folder holding ``data/``
or ``data/`` itself; when set, nowhere else) or at ``../shared`` next to the current directory or the source
checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from greenci.errors import ConfigError

ENV_VAR = "GREENCI_SHARED"


def find_shared_data() -> Path | None:
    """The ``data`` folder of the shared real data, or None when it is not on this machine."""
    env = os.environ.get(ENV_VAR)
    if env:  # an explicit setting is the only place looked at
        candidates = [Path(env)]
    else:
        here = Path(__file__).resolve()
        candidates = [Path.cwd() / ".." / "shared", Path.cwd() / "shared"]
        candidates += [p / ".." / "shared" for p in here.parents[:4]]
    for c in candidates:
        for d in (c / "data", c):
            if (d / "INDEX.md").is_file() and (d / "intensity").is_dir():
                return d.resolve()
    return None


def require_shared_data() -> Path:
    """Like :func:`find_shared_data`, but raise a clear error when the data is absent."""
    found = find_shared_data()
    if found is None:
        raise ConfigError(
            "the shared real data was not found: set GREENCI_SHARED to the folder holding data/ "
            "(e.g. ../shared) or pass intensity files explicitly"
        )
    return found
