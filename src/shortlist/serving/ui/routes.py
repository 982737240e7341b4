"""``/ui``: the inspector's pages (overview, user, item, experiments, search), login and the admin action."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from shortlist.errors import ShortlistError
from shortlist.serving.ui import auth
from shortlist.serving.ui.catalog_view import catalog_view
from shortlist.serving.ui.experiments import arms, off_policy, variants
from shortlist.serving.ui.explain import Asked
from shortlist.serving.ui.live import LatencySampler
from shortlist.serving.ui.render import HERE, page, svg
from shortlist.serving.ui.views import compare_versions, item_view, overview_view, pipeline_parts, user_view

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
_STATIC = {"ui.css": "text/css", "ui.js": "text/javascript"}


def _events_db(st: Any) -> Path | None:
    """The log the figures come from: the one `shortlist ui` was pointed at, else the server's own."""
    if getattr(st, "ui_events_db", None) is not None:
        return st.ui_events_db
    log = getattr(st, "event_log", None)
    return log.path if log is not None else None


def _online(st: Any, user_id: str) -> list[str]:
    """The user's recent history in the online state (what ``POST /recommend`` adds), oldest first."""
    state = getattr(st, "state", None)
    return [str(i) for i, _ in state.history(user_id)] if state is not None else []


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the UI's forms are a few short fields: no multipart parser needed)."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    return {k: v[0] for k, v in fields.items()}


def _login_redirect(request: Request) -> Response | None:
    if auth.session_valid(request):
        return None
    return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)


def _asked(request: Request, user_id: str, k: int | None, region: str, device: str, time: str,
           exclude: str) -> Asked:
    """The what-if controls as a request body (empty fields are left out, as a client would)."""
    context: dict[str, Any] = {key: v for key, v in (("region", region), ("device", device)) if v}
    if time:
        context["now"] = dt.datetime.fromisoformat(time).replace(tzinfo=dt.UTC).timestamp()
    max_k = request.app.state.settings.max_k
    k = None if k is None else max(1, min(int(k), max_k))
    return Asked(user_id=user_id, k=k, context=context, exclude=[x.strip() for x in exclude.split(",") if x.strip()])


@router.get("")
async def overview(request: Request) -> Response:
    """The data, the pipeline's parts and version, and live figures."""
    if (r := _login_redirect(request)) is not None:
        return r
    st = request.app.state
    if not hasattr(st, "ui_sampler"):
        st.ui_sampler = LatencySampler()
    v = await asyncio.to_thread(overview_view, st, _events_db(st), st.ui_sampler)
    first = str(st.holder.current.pipeline.users_.ids[0])
    return page(request, "overview.html", v=v, charts={k: svg(c) for k, c in v["charts"].items()}, first_user=first)


@router.get("/users/{user_id}")
async def user_page(request: Request, user_id: str, k: int | None = Query(None, ge=1), region: str = "",
                    device: str = "", time: str = "", exclude: str = "") -> Response:
    """Why this user gets these items: history, final list, funnel, what-if controls, two versions side by side."""
    if (r := _login_redirect(request)) is not None:
        return r
    st = request.app.state
    try:
        asked = _asked(request, user_id, k, region, device, time, exclude)
    except ValueError as exc:
        return page(request, "error.html", status=422, message=f"what-if controls: {exc}")
    online = _online(st, user_id)
    mv = st.holder.current
    try:
        v = user_view(mv.pipeline, asked, online)
    except (ShortlistError, TypeError, ValueError, KeyError) as exc:
        return page(request, "error.html", status=422, message=f"the pipeline refused this request: {exc}")
    other = getattr(st, "ui_compare", None)
    compare = compare_versions(mv.pipeline, other.current.pipeline, asked, online) if other is not None else None
    return page(request, "user.html", v=v, asked=asked, form={"k": k or "", "region": region, "device": device,
                                                               "time": time, "exclude": exclude},
                compare=compare, compare_version=other.current.version if other is not None else "",
                source_chart=svg(v["source_chart"]))


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: str, user: str = "") -> Response:
    """Similar items, the sources that surface it, exposure over time, why it is not shown to a user."""
    if (r := _login_redirect(request)) is not None:
        return r
    st = request.app.state
    p = st.holder.current.pipeline
    index = catalog_view(p).item_index(item_id)
    if index < 0:
        return page(request, "error.html", status=404, message=f"item {item_id!r} is not in the served catalog")
    asked = Asked(user_id=user) if user else None
    v = await asyncio.to_thread(item_view, p, index, _events_db(st), asked, _online(st, user) if user else [])
    charts = {k: svg(v[k]) for k in ("surfacing_chart", "exposure_chart") if k in v}
    return page(request, "item.html", v=v, charts=charts, user=user)


@router.get("/experiments")
async def experiments(request: Request) -> Response:
    """Exploration arms and A/B variants with intervals, off-policy estimates of candidate policies."""
    if (r := _login_redirect(request)) is not None:
        return r
    st = request.app.state
    from shortlist.report.svg import bar_chart

    db, p = _events_db(st), st.holder.current.pipeline
    a, var, ope = await asyncio.to_thread(lambda: (arms(db), variants(db), off_policy(db, p)))
    charts = {name: svg(bar_chart([str(r["key"]) for r in rows], [r["rate"] for r in rows], title=title,
                                  xlabel="click-through (95% Wilson interval)",
                                  errors=[(r["low"], r["high"]) for r in rows]))
              for name, rows, title in (("arms", a, "Explored items"), ("variants", var, "A/B variants")) if rows}
    explore = [r for r in p.spec.rules if "explor" in r.kind]
    return page(request, "experiments.html", arms=a, variants=var, ope=ope, charts=charts,
                exploration=[r.model_dump(exclude_none=True) for r in explore], parts=pipeline_parts(p))


@router.get("/search")
async def search(request: Request, q: str = Query("", max_length=200)) -> Response:
    """Users and items by id prefix, items by title."""
    if (r := _login_redirect(request)) is not None:
        return r
    found = catalog_view(request.app.state.holder.current.pipeline).search(q)
    return page(request, "search.html", q=q, found=found)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The stylesheet and the small script (package data)."""
    if name not in _STATIC:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=_STATIC[name], headers={"Cache-Control": "max-age=300"})


@router.get("/login")
async def login_form(request: Request, next: str = "/ui") -> Response:
    """The login form (``page`` sets the pre-login cookie its CSRF token is bound to)."""
    return page(request, "login.html", next=next if next.startswith("/ui") else "/ui", error="")


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the API key and set the HttpOnly, SameSite session cookie."""
    form = await _form(request)
    auth.check_csrf(request, form.get("csrf"))
    next = form.get("next", "/ui")
    session = auth.new_session(request.app, form.get("api_key", ""))
    if session is None:
        return page(request, "login.html", status=401, next=next, error="wrong key")
    resp = RedirectResponse(next if next.startswith("/ui") else "/ui", status_code=303)
    resp.set_cookie(auth.SESSION_COOKIE, session, httponly=True, samesite="strict", path="/",
                    max_age=auth.SESSION_S, secure=request.url.scheme == "https")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    auth.check_csrf(request, (await _form(request)).get("csrf"))
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(auth.SESSION_COOKIE, path="/")
    return resp


@router.post("/admin/reload")
async def admin_reload(request: Request) -> Response:
    """Reload the served folder (only with --ui-admin; needs the session and its CSRF token)."""
    if (r := _login_redirect(request)) is not None:
        return r
    auth.check_csrf(request, (await _form(request)).get("csrf"))
    if not getattr(request.app.state.settings, "ui_admin", False):
        return page(request, "error.html", status=403, message="the inspector is read-only; start the server "
                                                               "with --ui-admin to allow admin actions")
    from shortlist.serving.routers.admin import reload_model

    await asyncio.to_thread(reload_model, request.app, None)
    return RedirectResponse("/ui", status_code=303)
