"""The base of every API resource (DRF viewsets, one per resource, routed by `tutoring.api.routers`).

Actions stay thin: validate the input (`validated`), call one service or selector, shape the output.
Who may call an action is the `permissions` of that action; which rate limits count it, its
`throttles`; both fall back to the REST_FRAMEWORK defaults (any signed-in user, the general limit).

`pure_reads` names the GET actions that only read and whose one query also checks the signed-in user
(exists, active: `tutoring.api.auth.PendingUser`): they save the separate read of the user, and their
rate-limit count runs while they read (`tutoring.api.ratelimit`).
"""

from __future__ import annotations

from rest_framework import exceptions, viewsets
from rest_framework_simplejwt.authentication import JWTAuthentication

from tutoring.api.auth import PendingUser
from tutoring.api.ratelimit import finish_deferred_check


class ApiViewSet(viewsets.ViewSet):
    lookup_value_converter = "uuid"
    permissions: dict[str, tuple] = {}
    throttles: dict[str, tuple] = {}
    pure_reads: frozenset[str] = frozenset()

    def get_authenticate_header(self, request):
        # Also for actions that take no credentials (obtaining a token): their 401 stays a 401 with the
        # Bearer challenge instead of DRF's 403 for views without an authenticator.
        return JWTAuthentication().authenticate_header(request)

    def get_permissions(self):
        classes = self.permissions.get(self.action)
        return [cls() for cls in classes] if classes is not None else super().get_permissions()

    def get_throttles(self):
        classes = self.throttles.get(self.action)
        return [cls() for cls in classes] if classes is not None else super().get_throttles()

    def finalize_response(self, request, response, *args, **kwargs):
        # A pure read's deferred rate-limit count comes first, as it would have before the view.
        if (refused := finish_deferred_check(request._request)) is not None:
            return refused
        # A user no query confirmed is read now: a deleted or deactivated one gets its 401, not the data.
        user = getattr(request, "_user", None)
        if isinstance(user, PendingUser) and not user.checked:
            try:
                user.user()
            except exceptions.APIException as exc:
                response = self.handle_exception(exc)
        return super().finalize_response(request, response, *args, **kwargs)
