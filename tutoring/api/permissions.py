from rest_framework.permissions import IsAuthenticated

from tutoring.models import Role


class _HasRole(IsAuthenticated):
    role = ""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.role == self.role


class IsTutor(_HasRole):
    role = Role.TUTOR
    message = "Only tutors can do this."


class IsStudent(_HasRole):
    role = Role.STUDENT
    message = "Only students can do this."


class IsStaff(_HasRole):
    role = Role.STAFF
    message = "Only staff can do this."
