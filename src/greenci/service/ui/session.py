"""The dashboard's session: the API token kept in an HTTP-only cookie, and the CSRF token bound to it.

Why a hash of the token as the CSRF token: it is the same in every worker process (no shared secret, no
server-side session table), it changes with the session, and a page on another site can neither read it nor
compute it without the API token itself (which is never shown to the page's scripts).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["COOKIE", "MAX_AGE_S", "cookie_options", "csrf_for", "csrf_ok"]

COOKIE = "greenci_session"
MAX_AGE_S = 8 * 3600  # a working day: then the token is pasted again
_CSRF_PREFIX = b"greenci-dashboard-csrf\x00"


def csrf_for(token: str) -> str:
    """The CSRF token of a session: SHA-256 of a fixed prefix and the API token (not the stored hash)."""
    return hashlib.sha256(_CSRF_PREFIX + token.encode("utf-8")).hexdigest()


def csrf_ok(token: str, given: str | None) -> bool:
    """Whether a form's CSRF field matches the session's (constant-time)."""
    return bool(given) and hmac.compare_digest(csrf_for(token), str(given))


def cookie_options(secure: bool) -> dict[str, object]:
    """Set-Cookie attributes: HTTP-only, SameSite=Strict, Secure when the request came over https."""
    return {"key": COOKIE, "httponly": True, "samesite": "strict", "secure": secure, "path": "/ui",
            "max_age": MAX_AGE_S}
