"""Staff decisions on pending requests (refunds, withdrawals): one set of rules for both.

A decision is taken once: the request is locked, must still be `pending` (else 409), and records who,
when and a note. Rejections need a note.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from tutoring.access import require_role
from tutoring.errors import ApplicationError, Conflict, NotFound
from tutoring.models import Role, User

M = TypeVar("M", bound=Model)

# Whole sentences per kind of request, so each can be translated as a sentence.
MESSAGES = {
    "refund": {
        "staff": gettext_lazy("Only staff can decide refunds."),
        "missing": gettext_lazy("Refund not found."),
        "decided": gettext_lazy("This refund was already decided (%(status)s)."),
        "note": gettext_lazy("A note is required to reject a refund."),
    },
    "withdrawal": {
        "staff": gettext_lazy("Only staff can decide withdrawals."),
        "missing": gettext_lazy("Withdrawal not found."),
        "decided": gettext_lazy("This withdrawal was already decided (%(status)s)."),
        "note": gettext_lazy("A note is required to reject a withdrawal."),
    },
}


def lock_pending(queryset: QuerySet[M], pk, *, staff: User, what: str) -> M:
    """The pending `what` with id `pk`, row-locked for the caller's transaction."""
    require_role(staff, Role.STAFF, MESSAGES[what]["staff"])
    obj = queryset.select_for_update().filter(pk=pk).first()
    if obj is None:
        raise NotFound(MESSAGES[what]["missing"])
    if obj.status != "pending":
        raise Conflict(MESSAGES[what]["decided"] % {"status": obj.status})
    return obj


def decide(obj: Model, *, staff: User, status: str, note: str) -> None:
    obj.status = status
    obj.decided_by = staff
    obj.decided_at = timezone.now()
    obj.decision_note = note


def rejection_note(note: str, *, what: str) -> str:
    note = note.strip()
    if not note:
        raise ApplicationError(MESSAGES[what]["note"], errors={"note": [gettext("Required.")]})
    return note
