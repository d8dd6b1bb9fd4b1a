"""One error shape for every REST failure: `{"error": {"type", "message", "param"}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("parley.api")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "method_not_allowed",
    409: "conflict_error",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """Raise from a route to answer with the error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type or _TYPES.get(status, "api_error")
        self.headers = headers


def error_body(
    status: int, message: str, param: str | None = None, type: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "type": type or _TYPES.get(status, "api_error"),
            "message": message,
            "param": param,
        }
    }


def error_response(
    status: int,
    message: str,
    param: str | None = None,
    type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, param, type), status_code=status, headers=headers
    )


def not_found(what: str, ident: str, param: str) -> ApiError:
    return ApiError(404, f"No {what} with id {ident!r}.", param)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first problem of a validation error, as (message, top-level field)."""
    errors = exc.errors()
    if not errors:
        return "The request is not valid.", None
    err = errors[0]
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    kind = err.get("type", "")
    if kind in ("json_invalid", "json_type"):
        return "The request body is not valid JSON.", None
    if not loc:
        if kind in ("missing",) or "dict" in kind or "model" in kind:
            return "The request body must be a JSON object.", None
        return str(err.get("msg", "Invalid request.")), None
    param = str(loc[0])
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
    if kind == "missing":
        return f"Missing required field '{path}'.", param
    if kind == "extra_forbidden":
        return f"Unknown field '{path}'.", param
    return f"Invalid '{path}': {err.get('msg', 'invalid value')}.", param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.type, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(400, message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint."
        return error_response(exc.status_code, message, None, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error.", None, "server_error")
