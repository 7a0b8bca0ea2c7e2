"""Staff decisions on pending requests (refunds, withdrawals): one set of rules for both.

A decision is taken once: the request is locked, must still be `pending` (else 409), and records who,
when and a note. Rejections need a note.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils import timezone

from tutoring.access import require_role
from tutoring.errors import ApplicationError, Conflict, NotFound
from tutoring.models import Role, User

M = TypeVar("M", bound=Model)


def lock_pending(queryset: QuerySet[M], pk, *, staff: User, what: str) -> M:
    """The pending `what` with id `pk`, row-locked for the caller's transaction."""
    require_role(staff, Role.STAFF, f"Only staff can decide {what}s.")
    obj = queryset.select_for_update().filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{what.capitalize()} not found.")
    if obj.status != "pending":
        raise Conflict(f"This {what} was already decided ({obj.status}).")
    return obj


def decide(obj: Model, *, staff: User, status: str, note: str) -> None:
    obj.status = status
    obj.decided_by = staff
    obj.decided_at = timezone.now()
    obj.decision_note = note


def rejection_note(note: str, *, what: str) -> str:
    note = note.strip()
    if not note:
        raise ApplicationError(f"A note is required to reject a {what}.", errors={"note": ["Required."]})
    return note
