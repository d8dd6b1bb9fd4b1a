"""`/docs` (Swagger UI) from local files: Parley is offline-first, and FastAPI's default
page loads its scripts from a CDN (a blank page without the internet).

The assets are those the `fastapi-offline` package ships (Swagger UI 5, Apache-2.0; the
package is MIT), served under `/docs/static/` and put in FastAPI's own page with
`get_swagger_ui_html(swagger_js_url=…, swagger_css_url=…)`. Like `/openapi.json`, the
page is open without a key: it describes the API and holds no data. There is no `/redoc`:
ReDoc's page fetches its logo from the vendor's CDN even with local scripts.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC = "/docs/static"


def install_docs(app: FastAPI) -> None:
    """Serve the docs page and its assets (make the app with `docs_url=None,
    redoc_url=None`)."""
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC}/favicon.png",
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
