"""Jinja2 templates and static assets of the inspector (package data: nothing fetched from a CDN)."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from shortlist.serving.ui.auth import PRE_COOKIE, SESSION_COOKIE, csrf_token

__all__ = ["HERE", "page", "svg"]

HERE = Path(__file__).resolve().parent

#: scripts and styles only from this server; charts are inline SVG (style attributes only)
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _when(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _num(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


_ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["when"] = _when
_ENV.filters["num"] = _num


def svg(markup: str) -> Markup:
    """A chart built by shortlist.report.svg (every label escaped there) as template-safe markup."""
    return Markup(markup)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with what every page needs (version, CSRF token, admin mode)."""
    st = request.app.state
    holder = getattr(st, "holder", None)
    fresh = None
    if not (request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)):
        fresh = request.cookies[PRE_COOKIE] = secrets.token_urlsafe(24)  # the forms' CSRF token binds to it
    html = _ENV.get_template(template).render(
        request=request, version=holder.current.version if holder else "", csrf=csrf_token(request),
        admin=bool(getattr(st.settings, "ui_admin", False)), **context)
    resp = HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP,
                                                           "X-Content-Type-Options": "nosniff",
                                                           "Cache-Control": "no-store"})
    if fresh is not None:
        resp.set_cookie(PRE_COOKIE, fresh, httponly=True, samesite="strict", path="/ui")
    return resp
