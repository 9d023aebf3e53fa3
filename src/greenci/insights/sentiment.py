"""Sentiment of messages with VADER (rule-based, no training data, no network, fast).

Why VADER: it needs no model download and its scores are reproducible, so a maintainer can re-run them.
The score of a text is VADER's ``compound`` value in [-1, 1]; VADER's authors call a text negative at
``compound <= -0.05`` and positive at ``>= 0.05``. Code-review language ("kill the process", "fix the
bug") reads more negative than it is meant, so the score is one small, documented weight in the
burnout score, never a verdict on its own.

vaderSentiment is loaded on first use; without it :class:`~greenci.errors.ConfigError` says how to
install the ``insights`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["NEGATIVE_AT", "POSITIVE_AT", "clean_text", "sentiment_scorer", "sentiment_scores"]

NEGATIVE_AT = -0.05
POSITIVE_AT = 0.05
_CODE = re.compile(r"```.*?```|`[^`]*`", re.S)
_URL = re.compile(r"https?://\S+")
_TRAILERS = re.compile(r"^(?:Signed-off-by|Co-authored-by|Change-Id|Reviewed-by|Reviewed-on):.*$", re.M | re.I)


def clean_text(text: str) -> str:
    """The prose of a message: code spans, URLs and commit trailers removed (they carry no mood)."""
    return " ".join(_TRAILERS.sub(" ", _URL.sub(" ", _CODE.sub(" ", text))).split())


def sentiment_scorer() -> Callable[[str], float]:
    """A function text -> VADER compound score in [-1, 1]; empty prose scores 0."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("sentiment scoring", exc) from None
    analyzer = SentimentIntensityAnalyzer()

    def score(text: str) -> float:
        prose = clean_text(text)
        return float(analyzer.polarity_scores(prose)["compound"]) if prose else 0.0

    return score


def sentiment_scores(texts: Iterable[str]) -> list[float]:
    """VADER compound score of each text, in order."""
    score = sentiment_scorer()
    return [score(t) for t in texts]
