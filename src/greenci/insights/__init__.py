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
``csvfiles``      the strict CSV reading the small input files share (UTF-8, rows as wide as the header)
``cli``           ``register(app)`` adds ``greenci insights health`` and ``greenci insights impact``

Importing this package loads nothing heavy: scikit-learn, SHAP, LIME, vaderSentiment and matplotlib
load inside the functions that need them, and their absence raises
:class:`~greenci.errors.ConfigError` naming ``pip install 'greenci[insights]'``.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'greenci[insights]'"
#: years a time read from an export may fall in; anything else is a typo or a damaged file
PLAUSIBLE_YEARS = (1970, 2100)

__all__ = ["INSTALL_HINT", "PLAUSIBLE_YEARS", "missing_extra", "plausible_time"]


def missing_extra(what: str, exc: BaseException | None = None) -> Exception:
    """The ConfigError for a missing optional library: which one, for what, and the install line."""
    from greenci.errors import ConfigError

    name = getattr(exc, "name", None) or what
    return ConfigError(f"{what} needs the optional package {name!r}, which is not installed: {INSTALL_HINT}")


def plausible_time(t: object) -> bool:
    """Whether a date or time read from an export lies in :data:`PLAUSIBLE_YEARS` (and is not at the calendar's
    edge, where converting it to another time zone would overflow)."""
    year = getattr(t, "year", None)
    return isinstance(year, int) and PLAUSIBLE_YEARS[0] <= year <= PLAUSIBLE_YEARS[1]
