"""The API's role permissions: the same check the services make (`tutoring.access.require_role`),
applied before an action runs so a wrong role gets its 403 before any validation."""

from django.utils.translation import gettext_lazy
from rest_framework.permissions import IsAuthenticated

from tutoring.access import require_role
from tutoring.models import Role


class _HasRole(IsAuthenticated):
    role = ""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False  # 401: not signed in at all
        require_role(request.user, self.role, self.message)
        return True


class IsTutor(_HasRole):
    role = Role.TUTOR
    message = gettext_lazy("Only tutors can do this.")


class IsStudent(_HasRole):
    role = Role.STUDENT
    message = gettext_lazy("Only students can do this.")


class IsStaff(_HasRole):
    role = Role.STAFF
    message = gettext_lazy("Only staff can do this.")
