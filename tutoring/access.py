"""Who may do what: the one place roles and a booking's parties are checked.

Services, selectors and the API's permission classes (`tutoring.api.permissions`) all ask here, so a
rule reads the same whichever door a request comes through (REST, realtime, pages, admin).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from tutoring.errors import Forbidden, NotFound
from tutoring.models import Booking, Role, User

PARTIES_ONLY = gettext_lazy("Only the booking's tutor and student can do this.")


def has_role(user: User, role: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role == role


def require_role(user: User, role: str, message: str) -> None:
    """403 with `message` unless `user` has `role`."""
    if not has_role(user, role):
        raise Forbidden(message)


def check_booking_access(
    booking: Booking | None,
    user: User,
    *,
    staff_allowed: bool = False,
    not_found: str = gettext_lazy("Booking not found."),
    forbidden: str = PARTIES_ONLY,
) -> Booking:
    """The booking (or what belongs to it: a session, a refund), if `user` may see it.

    Its two parties may; staff may where `staff_allowed`. Anyone else gets 404 (`not_found`), so ids do
    not leak; staff, who can see every booking in the admin, get 403 (`forbidden`) where only the
    parties may act, since a 404 would tell them something untrue.
    """
    if booking is not None and booking.is_party(user):
        return booking
    if booking is not None and has_role(user, Role.STAFF):
        if staff_allowed:
            return booking
        raise Forbidden(forbidden)
    raise NotFound(not_found)
