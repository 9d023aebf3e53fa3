"""The curated public API: ``greenci.__all__`` matches what the package really exports."""

from __future__ import annotations

import greenci


def test_all_names_exist_and_public_names_are_listed() -> None:
    for name in greenci.__all__:
        assert hasattr(greenci, name), name
    public = {n for n in vars(greenci) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(greenci, n)).__name__ == "module"}
    assert public - modules == set(greenci.__all__) - {"__version__"}


def test_errors_form_one_tree() -> None:
    for name in ("InputError", "DataFormatError", "SignalMismatchError", "GapError", "ConfigError", "SourceError",
                 "AuthenticationError"):
        assert issubclass(getattr(greenci, name), greenci.GreenciError)
