"""API docs that work offline: Swagger UI at /docs and ReDoc at /redoc, their assets served from a package.

FastAPI's own pages load their JavaScript and CSS from a CDN, which a server without internet
(or a browser behind a strict proxy) cannot reach; the ``fastapi-offline`` package ships the
same files, and they are served here under ``/docs/assets``. ``/`` redirects to ``/docs``.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "install_docs"]

log = logging.getLogger("shortlist.serving")

ASSETS_URL = "/docs/assets"


def _assets_dir() -> Path | None:
    try:
        return Path(str(resources.files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None


def install_docs(app: FastAPI) -> None:
    """Mount the assets and the /docs, /redoc and / pages (build the app with ``docs_url=None, redoc_url=None``)."""
    assets = _assets_dir()
    if assets is None or not (assets / "swagger-ui-bundle.js").is_file():
        log.warning("fastapi-offline is not installed: /docs and /redoc are off (pip install 'shortlist[serve]')")
        return
    app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")
    title = f"{app.title} {app.version}"
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - API",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{title} - ReDoc",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)
