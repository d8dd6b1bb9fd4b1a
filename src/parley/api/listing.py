"""The query of list endpoints: filters, `limit`/`offset`, an opaque `cursor`.

`GET /v1/conversations` and `GET /v1/agents/{id}/sessions` take `status`,
`created_after`/`created_before` (ISO 8601, exclusive), `metadata.KEY=VALUE` (repeatable:
all must match; values compared as text), `order` (`desc`, newest first, or `asc`),
`limit` (1–100) and either `offset` or `cursor` (the `next_cursor` of the previous page).
A bad value is a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Query, Request

from parley.api.errors import ApiError
from parley.store.listing import ConversationQuery, PageRequest
from parley.store.records import ConversationRecord

_META_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_KNOWN = {
    "limit",
    "offset",
    "cursor",
    "order",
    "status",
    "agent_id",
    "created_after",
    "created_before",
}
FILTERS_DOC = (
    "Filters: `status`, `created_after`/`created_before` (ISO 8601, exclusive), "
    "`metadata.KEY=VALUE` (repeatable, all must match, compared as text). Order: "
    "`order=desc` (newest first, default) or `asc`, by (created_at, id). Page with "
    "`limit`/`offset`, or follow `next_cursor` with `cursor=`: a cursor never skips or "
    "repeats a row while rows are added; an offset can."
)

LimitQ = Query(20, ge=1, le=100, description="Rows per page (1–100).")
OffsetQ = Query(0, ge=0, le=1_000_000_000, description="Rows to skip (or use `cursor`).")
CursorQ = Query(None, max_length=400, description="`next_cursor` of the previous page.")
OrderQ = Query("desc", description="`desc` (newest first) or `asc`.")
AfterQ = Query(None, description="Only rows created after this ISO 8601 time.")
BeforeQ = Query(None, description="Only rows created before this ISO 8601 time.")


def parse_time(value: str | None, param: str) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace(" ", "+"))
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            400, f"Invalid '{param}' {value!r}: use ISO 8601, e.g. 2026-11-20T10:30:00Z.", param
        ) from None


def metadata_filters(request: Request) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in request.query_params.multi_items():
        if name in _KNOWN or not name.startswith("metadata"):
            continue
        key = name[len("metadata.") :] if name.startswith("metadata.") else ""
        if not _META_KEY.match(key):
            raise ApiError(
                400,
                f"Invalid metadata filter {name!r}: use metadata.KEY=VALUE, KEY of letters, "
                "digits, '_' or '-' (64 at most).",
                "metadata",
            )
        if len(value) > 500:
            raise ApiError(400, f"The value of {name!r} is too long (500 at most).", name)
        out.append((key, value))
    return out


def check_choice(value: str | None, param: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise ApiError(400, f"Invalid '{param}' {value!r}: one of {', '.join(choices)}.", param)
    return value


def _encode(rec: ConversationRecord, newest_first: bool) -> str:
    raw = json.dumps([rec.created_at.isoformat(), rec.id, "d" if newest_first else "a"])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, newest_first: bool) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, ident, order = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created)
        if not isinstance(ident, str) or order not in ("a", "d") or at.tzinfo is None:
            raise ValueError(order)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(
            400, "Invalid 'cursor': pass the next_cursor of a previous page as is.", "cursor"
        ) from None
    if (order == "d") != newest_first:
        raise ApiError(400, "This 'cursor' belongs to the other 'order'.", "cursor")
    return at, ident


def page_request(limit: int, offset: int, cursor: str | None, order: str) -> PageRequest:
    check_choice(order, "order", ("desc", "asc"))
    newest_first = order == "desc"
    page = PageRequest(limit=limit, offset=offset, newest_first=newest_first)
    if cursor is None:
        return page
    if offset:
        raise ApiError(400, "Use 'cursor' or 'offset', not both.", "offset")
    return replace(page, after=_decode(cursor, newest_first))


@dataclass(frozen=True)
class ListRequest:
    """What every conversation list takes: the page, the time and metadata filters."""

    page: PageRequest
    created_after: datetime | None
    created_before: datetime | None
    metadata: tuple[tuple[str, str], ...]

    def query(self, account: str, **fields: Any) -> ConversationQuery:
        return ConversationQuery(
            account_id=account,
            created_after=self.created_after,
            created_before=self.created_before,
            metadata=self.metadata,
            **fields,
        )


def list_request(
    request: Request,
    limit: int = LimitQ,
    offset: int = OffsetQ,
    cursor: str | None = CursorQ,
    order: str = OrderQ,
    created_after: str | None = AfterQ,
    created_before: str | None = BeforeQ,
) -> ListRequest:
    """The shared query parameters, checked (a FastAPI dependency)."""
    return ListRequest(
        page=page_request(limit, offset, cursor, order),
        created_after=parse_time(created_after, "created_after"),
        created_before=parse_time(created_before, "created_before"),
        metadata=tuple(metadata_filters(request)),
    )


def page_body(
    data: list[dict[str, Any]],
    records: list[ConversationRecord],
    total: int,
    page: PageRequest,
    has_more: bool,
) -> dict[str, Any]:
    """The page as answered (`next_cursor` after the last row, if more follow)."""
    cursor = _encode(records[-1], page.newest_first) if has_more and records else None
    return {
        "data": data,
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "has_more": has_more,
        "next_cursor": cursor,
    }
