"""Keyset (cursor) pagination, newest first: `?limit=` (default 20, max 100) and `?cursor=`.

The cursor is an opaque token of the last row's (created_at, id); the next page is every row strictly
older than it, so pages stay correct while new rows arrive and cost one indexed query each.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.serializers import Serializer

from tutoring.errors import ApplicationError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# The query parameters of every list, for the OpenAPI document.
PAGE_PARAMS = [
    OpenApiParameter("limit", int, description=f"Page size, default {DEFAULT_LIMIT}, max {MAX_LIMIT}."),
    OpenApiParameter("cursor", str, description="The `next` value of the previous page."),
]


class PageParams(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, allow_blank=True, default="")


def encode_cursor(created_at: datetime, pk: Any) -> str:
    raw = json.dumps([created_at.isoformat(), str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor() -> ApplicationError:
    message = gettext("Invalid cursor.")
    return ApplicationError(message, errors={"cursor": [message]})


def decode_cursor(cursor: str, *, queryset: QuerySet, time_field: str) -> tuple[datetime, Any]:
    """The (time, pk) a cursor stands for, each checked against its column: a 400 for anything else."""
    model = queryset.model
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, pk = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        return model._meta.get_field(time_field).to_python(created_at), model._meta.pk.to_python(pk)
    except (ValueError, TypeError, json.JSONDecodeError, DjangoValidationError) as exc:
        raise _invalid_cursor() from exc


def paginate(
    queryset: QuerySet,
    query_params: Any,
    *,
    time_field: str = "created_at",
) -> tuple[Sequence[Any], str | None]:
    """One page of `queryset`, ordered newest first by (time_field, pk), and the next cursor or None."""
    params = PageParams(data={k: query_params.get(k) for k in ("limit", "cursor") if query_params.get(k) is not None})
    params.is_valid(raise_exception=True)
    limit = min(params.validated_data["limit"], MAX_LIMIT)
    cursor = params.validated_data["cursor"]
    qs = queryset.order_by(f"-{time_field}", "-pk")
    if cursor:
        created_at, pk = decode_cursor(cursor, queryset=queryset, time_field=time_field)
        qs = qs.filter(Q(**{f"{time_field}__lt": created_at}) | Q(**{time_field: created_at, "pk__lt": pk}))
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, time_field), last.pk)
    return rows, next_cursor


def page_response(key: str, rows: Sequence[Any], next_cursor: str | None, serializer: type[Serializer]) -> dict:
    """`{<key>: [...], "next": cursor}`; one serializer for the whole page (DRF's per-instance setup is costly)."""
    return {key: serializer(rows, many=True).data, "next": next_cursor}
