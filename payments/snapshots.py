"""Applying Stripe's object snapshots in order (docs/money.md "Webhooks").

Stripe's events may arrive late, twice or out of order; after the signature check the object snapshot
in an event is trusted. Each of our rows that mirrors a Stripe object keeps the `created` of the newest
event applied to it (its watermark); a snapshot older than that changes nothing. An event about an
object we do not know is ignored too: Stripe would only retry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)


class Ignored(Exception):
    """A verified event that changes nothing; its message is the outcome recorded for the event."""


def lock_for_snapshot(
    queryset: QuerySet[M], lookups: Sequence[Q], *, created: int, what: str, watermark: str = "last_event_created"
) -> M:
    """The row the snapshot is about, row-locked for the caller's transaction, its watermark moved to
    `created` (the caller saves it). The first of `lookups` that finds a row wins.

    Raises `Ignored` for an unknown object or an older snapshot, before anything is written.
    """
    for lookup in lookups:
        obj = queryset.select_for_update().filter(lookup).first()
        if obj is not None:
            break
    else:
        raise Ignored(f"ignored: unknown {what}")
    if created < getattr(obj, watermark):
        raise Ignored("ignored: older snapshot")
    setattr(obj, watermark, created)
    return obj
