"""Keyset (cursor) pagination: `?limit=` (default 20, max 100) and `?cursor=`.

A list is ordered by a sequence of keys ending in the primary key, so the order is total (newest first,
(created_at, id), unless the list says otherwise: a price, a rating, a search rank). The cursor is an
opaque token of the last row's values of those keys; the next page is every row strictly after it in
that order, so pages stay correct while rows arrive and cost one indexed query each. A cursor names the
order it was made for: handing it to another order is a 400, not a wrong page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Q, QuerySet
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


@dataclass(frozen=True)
class Key:
    """One key of a list's order: a field (or annotation) of the rows, descending unless `ascending`.
    `nulls_last` for a nullable key: rows without a value come after every row with one."""

    field: str
    ascending: bool = False
    nulls_last: bool = False

    def order_by(self):
        expression = F(self.field)
        if self.ascending:
            return expression.asc(nulls_last=True) if self.nulls_last else expression.asc()
        return expression.desc(nulls_last=True) if self.nulls_last else expression.desc()

    def after(self, value: Any) -> Q | None:
        """Rows strictly after `value` on this key alone (None: no row can be)."""
        if value is None:
            return None  # nulls come last: nothing is after a null but more nulls, which are equal
        beyond = Q(**{f"{self.field}__{'gt' if self.ascending else 'lt'}": value})
        return beyond | Q(**{f"{self.field}__isnull": True}) if self.nulls_last else beyond

    def equal(self, value: Any) -> Q:
        return Q(**{f"{self.field}__isnull": True}) if value is None else Q(**{self.field: value})

    @property
    def name(self) -> str:
        return ("+" if self.ascending else "-") + self.field + ("~" if self.nulls_last else "")


NEWEST_FIRST = (Key("created_at"), Key("pk"))


class PageParams(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, allow_blank=True, default="")


def _order_name(order: Sequence[Key]) -> str:
    return ",".join(key.name for key in order)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def encode_cursor(order: Sequence[Key], values: Sequence[Any]) -> str:
    raw = json.dumps([_order_name(order), *map(_jsonable, values)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Sequence[Key], queryset: QuerySet) -> list[Any]:
    """The cursor's values, each converted back by its model field (annotations stay as JSON gave them);
    anything `encode_cursor` would not have written is a 400."""
    message = gettext("Invalid cursor.")
    invalid = ApplicationError(message, errors={"cursor": [message]})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, *values = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise invalid from exc
    if name != _order_name(order) or len(values) != len(order):
        raise invalid
    converted = []
    for key, value in zip(order, values, strict=True):
        if value is None and not key.nulls_last:
            raise invalid
        try:
            field = queryset.model._meta.pk if key.field == "pk" else queryset.model._meta.get_field(key.field)
        except FieldDoesNotExist:
            if value is not None and not isinstance(value, int | float):
                raise invalid from None
            converted.append(value)
            continue
        try:
            converted.append(None if value is None else field.to_python(value))
        except (ValidationError, ValueError, TypeError) as exc:
            raise invalid from exc
        # Only the form this module writes (an aware ISO time, a UUID's text, …): 7 is no UUID here.
        if _jsonable(converted[-1]) != value:
            raise invalid
    return converted


def paginate(
    queryset: QuerySet,
    query_params: Any,
    *,
    order: Sequence[Key] = NEWEST_FIRST,
) -> tuple[Sequence[Any], str | None]:
    """One page of `queryset` in `order` (newest first by default), and the next cursor or None."""
    params = PageParams(data={k: query_params.get(k) for k in ("limit", "cursor") if query_params.get(k) is not None})
    params.is_valid(raise_exception=True)
    limit = min(params.validated_data["limit"], MAX_LIMIT)
    cursor = params.validated_data["cursor"]
    qs = queryset.order_by(*(key.order_by() for key in order))
    if cursor:
        values = decode_cursor(cursor, order, queryset)
        # (k1 after v1) or (k1 = v1 and k2 after v2) or ...: every row past the last one, in order.
        past, equal = Q(pk__in=[]), Q()
        for key, value in zip(order, values, strict=True):
            if (after := key.after(value)) is not None:
                past |= equal & after
            equal &= key.equal(value)
        qs = qs.filter(past)
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(order, [getattr(last, key.field) for key in order])
    return rows, next_cursor


def page_response(key: str, rows: Sequence[Any], next_cursor: str | None, serializer: type[Serializer]) -> dict:
    """`{<key>: [...], "next": cursor}`; one serializer for the whole page (DRF's per-instance setup is costly)."""
    return {key: serializer(rows, many=True).data, "next": next_cursor}
