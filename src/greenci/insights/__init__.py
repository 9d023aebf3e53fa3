"""Insights: contributor health (burnout risk) and what drives CI energy (correlation, SHAP, LIME).

Modules, one concept each:

``git_activity``  commits of real git repositories (``git log --numstat``), each with its own time zone
``reviews``       pull requests, reviews and comments from GitHub REST JSON or Gerrit change JSON
``calendar``      meeting hours from a given iCalendar file (never guessed)
``sentiment``     VADER sentiment of messages
``indicators``    the person x ISO-week indicator table, with pseudonymised identities
``burnout``       the transparent weighted score, and a cross-validated classifier when labels exist
``explain``       SHAP and LIME wrappers and their figures
``impact``        what drives CI energy in a table of runs: correlation, model, SHAP, LIME, Markdown
``selfenergy``    the energy of greenci's own run (measured when ``greenci.energy`` exists, else estimated)
``cli``           ``register(app)`` adds ``greenci insights health`` and ``greenci insights impact``

Importing this package loads nothing heavy: scikit-learn, SHAP, LIME, vaderSentiment and matplotlib
load inside the functions that need them, and their absence raises
:class:`~greenci.errors.ConfigError` naming ``pip install 'greenci[insights]'``.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'greenci[insights]'"

__all__ = ["INSTALL_HINT", "missing_extra"]


def missing_extra(what: str, exc: BaseException | None = None) -> Exception:
    """The ConfigError for a missing optional library: which one, for what, and the install line."""
    from greenci.errors import ConfigError

    name = getattr(exc, "name", None) or what
    return ConfigError(f"{what} needs the optional package {name!r}, which is not installed: {INSTALL_HINT}")
