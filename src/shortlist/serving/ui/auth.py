"""The inspector's access rules: a login cookie when the server is reachable beyond loopback, CSRF on every write.

The session cookie is ``<expiry>.<HMAC(key, expiry)>``: nothing stored server-side, invalid
after the key changes. A form's CSRF token is an HMAC of the session (or of a random
pre-login cookie, double-submitted), so another site cannot forge a write.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import Any

from fastapi import HTTPException, Request

from shortlist.serving.security import key_matches
from shortlist.serving.settings import is_loopback

__all__ = ["SESSION_COOKIE", "PRE_COOKIE", "check_csrf", "csrf_token", "login_required", "new_session",
           "session_valid"]

SESSION_COOKIE = "shortlist_ui"
PRE_COOKIE = "shortlist_ui_pre"
SESSION_S = 12 * 3600


def _secret(app: Any) -> bytes:
    """The key that signs cookies: the API key, or a random one per process on an open loopback server."""
    key = app.state.settings.api_key
    if key:
        return hashlib.sha256(b"shortlist-ui:" + key.encode("utf-8", "surrogatepass")).digest()
    if not hasattr(app.state, "ui_secret"):
        app.state.ui_secret = os.urandom(32)
    return app.state.ui_secret


def _sign(app: Any, text: str) -> str:
    return hmac.new(_secret(app), text.encode(), hashlib.sha256).hexdigest()


def login_required(app: Any) -> bool:
    """Whether the UI sits behind the API key: the server listens beyond loopback (and so has a key)."""
    s = app.state.settings
    return bool(s.api_key) and not is_loopback(s.host)


def new_session(app: Any, api_key: str) -> str | None:
    """A session cookie value for a correct key, else None."""
    if not key_matches(api_key, app.state.settings.api_key or ""):
        return None
    expiry = str(int(time.time()) + SESSION_S)
    return f"{expiry}.{_sign(app, 'session:' + expiry)}"


def session_valid(request: Request) -> bool:
    """Whether the request carries an unexpired session cookie signed with the current key."""
    if not login_required(request.app):
        return True
    value = request.cookies.get(SESSION_COOKIE, "")
    expiry, _, sig = value.partition(".")
    if not expiry.isdigit() or int(expiry) < time.time():
        return False
    return hmac.compare_digest(sig, _sign(request.app, "session:" + expiry))


def csrf_token(request: Request) -> str:
    """The token forms of this page carry: bound to the session, or to the pre-login cookie."""
    base = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE) or ""
    return _sign(request.app, "csrf:" + base)[:40]


def check_csrf(request: Request, given: str | None) -> None:
    """403 unless ``given`` is this session's CSRF token (and a session or pre-login cookie exists)."""
    has_base = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
    if not (given and has_base and hmac.compare_digest(given, csrf_token(request))):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page and submit its "
                                                    "form again")
