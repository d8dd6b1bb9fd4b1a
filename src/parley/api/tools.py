"""The `tools` field: two accepted shapes, one stored shape (JSON Schema).

Accepted, per tool:
- the seed's shape: `"parameters": {"order_id": {"type": "string", "required": true}}`
- JSON Schema: `"parameters": {"type": "object", "properties": {...}, "required": [...]}`

Stored as `ToolDef(name, description, parameters=<JSON Schema>, endpoint=…)`.
Problems raise `ApiError(400, …, param="tools")` with the tool's index in the message.

An endpoint's header values are secrets: checked (printable ASCII, names are HTTP
tokens), stored encrypted (`parley.net.secrets`) and never returned (`public_tool`
answers `"***"` for each). An endpoint whose host is an IP literal the outbound policy
refuses (loopback, private, link-local, …) is refused here already; host names are
checked when they are called (they may resolve differently by then).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlparse

from parley.api.errors import ApiError
from parley.net.outbound import OutboundPolicy
from parley.net.secrets import REDACTED, SecretBox
from parley.store.records import ToolDef

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
_TOOL_KEYS = {"name", "description", "parameters", "endpoint", "type", "function"}
_ENDPOINT_KEYS = {"url", "method", "headers", "timeout_s"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]{0,4096}$")
_FORBIDDEN_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "expect",
}
MAX_HEADERS = 32


def _fail(index: int, problem: str) -> ApiError:
    return ApiError(400, f"Invalid tools[{index}]: {problem}", "tools")


def _check_property(index: int, name: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise _fail(index, f'parameter \'{name}\' must be an object such as {{"type": "string"}}.')
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is not None and not all(isinstance(k, str) and k in _JSON_TYPES for k in kinds):
        raise _fail(
            index, f"parameter '{name}' has type {kind!r}; use one of {sorted(_JSON_TYPES)}."
        )


def _normalise_parameters(index: int, params: Any) -> dict[str, Any]:
    if params is None:
        return {"type": "object", "properties": {}}
    if not isinstance(params, dict):
        raise _fail(index, "'parameters' must be an object.")
    if params.get("type") == "object" and (
        "properties" in params or "required" in params or len(params) == 1
    ):
        props = params.get("properties", {})
        if not isinstance(props, dict):
            raise _fail(index, "'parameters.properties' must be an object.")
        for name, spec in props.items():
            _check_property(index, name, spec)
        required = params.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise _fail(index, "'parameters.required' must be a list of parameter names.")
        unknown = [r for r in required if r not in props]
        if unknown:
            raise _fail(index, f"'parameters.required' names unknown parameters {unknown}.")
        return {**params, "properties": props, "required": required}
    # The seed's shape: each key is a parameter, with an optional boolean `required`.
    properties: dict[str, Any] = {}
    required_names: list[str] = []
    for name, spec in params.items():
        _check_property(index, name, spec)
        req = spec.get("required", False)
        if not isinstance(req, bool):
            raise _fail(index, f"parameter '{name}': 'required' must be true or false.")
        if req:
            required_names.append(name)
        properties[name] = {k: v for k, v in spec.items() if k != "required"}
    return {"type": "object", "properties": properties, "required": required_names}


def _check_url(index: int, url: Any, policy: OutboundPolicy) -> str:
    try:
        parsed = urlparse(url) if isinstance(url, str) and len(url) <= 2048 else None
        host = parsed.hostname if parsed is not None else None
        _ = parsed.port if parsed is not None else None
    except ValueError:
        parsed, host = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not host:
        raise _fail(index, "'endpoint.url' must be an http:// or https:// URL (2048 chars).")
    if parsed.username or parsed.password:
        raise _fail(index, "'endpoint.url' must not hold credentials; use 'headers'.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if (literal is not None and not policy.allows_address(literal)) or (
        host.lower().rstrip(".") == "localhost" and not policy.allows_host("localhost")
    ):
        raise _fail(
            index,
            f"'endpoint.url' points at {host}, a loopback, private, link-local or reserved "
            "address; the server does not call those unless PARLEY_WEBHOOK_ALLOW lists it.",
        )
    return str(url)


def _check_headers(index: int, headers: Any, box: SecretBox | None) -> dict[str, str]:
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _fail(index, "'endpoint.headers' must map header names to string values.")
    if len(headers) > MAX_HEADERS:
        raise _fail(index, f"'endpoint.headers' may hold at most {MAX_HEADERS} headers.")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise _fail(index, f"header name {name[:40]!r} is not a valid HTTP header name.")
        if name.lower() in _FORBIDDEN_HEADERS:
            raise _fail(index, f"header {name!r} is set by the server and cannot be given.")
        if not _HEADER_VALUE.match(value):
            raise _fail(
                index,
                f"header {name!r}: values must be printable ASCII without CR/LF (4096 chars).",
            )
        out[name] = box.seal(value) if box is not None else value
    return out


def _normalise_endpoint(
    index: int, endpoint: Any, box: SecretBox | None, policy: OutboundPolicy
) -> dict[str, Any] | None:
    if endpoint is None:
        return None
    if isinstance(endpoint, str):
        endpoint = {"url": endpoint}
    if not isinstance(endpoint, dict):
        raise _fail(index, "'endpoint' must be an object with a 'url'.")
    unknown = set(endpoint) - _ENDPOINT_KEYS
    if unknown:
        raise _fail(index, f"unknown endpoint keys {sorted(unknown)}.")
    url = _check_url(index, endpoint.get("url"), policy)
    method = endpoint.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise _fail(index, f"'endpoint.method' must be one of {sorted(_METHODS)}.")
    headers = _check_headers(index, endpoint.get("headers", {}), box)
    out: dict[str, Any] = {"url": url, "method": method.upper(), "headers": headers}
    timeout = endpoint.get("timeout_s")
    if timeout is not None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 300
        ):
            raise _fail(index, "'endpoint.timeout_s' must be a number of seconds in (0, 300].")
        out["timeout_s"] = float(timeout)
    return out


def public_tool(tool: ToolDef) -> dict[str, Any]:
    """A tool as the API shows it: header values redacted (they are write-only)."""
    out = tool.to_json()
    if tool.endpoint is not None:
        headers = tool.endpoint.get("headers") or {}
        out["endpoint"] = {**tool.endpoint, "headers": {k: REDACTED for k in headers}}
    return out


def normalise_tools(
    raw: list[Any] | None, box: SecretBox | None = None, policy: OutboundPolicy | None = None
) -> list[ToolDef]:
    """Validate and normalise a request's `tools`; raises ApiError naming `tools`.
    With `box`, header values are stored encrypted."""
    if raw is None:
        return []
    policy = policy or OutboundPolicy([])
    if len(raw) > 128:
        raise ApiError(400, "Invalid tools: at most 128 tools.", "tools")
    tools: list[ToolDef] = []
    seen: set[str] = set()
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _fail(index, "each tool must be an object with a 'name'.")
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            # OpenAI's own wrapping: {"type": "function", "function": {...}}
            tool = {
                **tool["function"],
                **({"endpoint": tool["endpoint"]} if "endpoint" in tool else {}),
            }
        unknown = set(tool) - _TOOL_KEYS
        if unknown:
            raise _fail(index, f"unknown keys {sorted(unknown)}.")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(index, "a tool needs a 'name'.")
        if not _NAME.match(name):
            raise _fail(index, f"name {name!r} may use only letters, digits, '_' and '-' (1-64).")
        if name in seen:
            raise _fail(index, f"duplicate tool name {name!r}.")
        seen.add(name)
        description = tool.get("description", "")
        if not isinstance(description, str):
            raise _fail(index, "'description' must be a string.")
        tools.append(
            ToolDef(
                name=name,
                description=description,
                parameters=_normalise_parameters(index, tool.get("parameters")),
                endpoint=_normalise_endpoint(index, tool.get("endpoint"), box, policy),
            )
        )
    return tools
