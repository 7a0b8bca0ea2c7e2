"""The base of every API resource (DRF viewsets, one per resource, routed by `tutoring.api.routers`).

Actions stay thin: validate the input (`validated`), call one service or selector, shape the output.
Who may call an action is the `permissions` of that action; which rate limits count it, its
`throttles`; both fall back to the REST_FRAMEWORK defaults (any signed-in user, the general limit).
"""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework_simplejwt.authentication import JWTAuthentication


class ApiViewSet(viewsets.ViewSet):
    lookup_value_converter = "uuid"
    permissions: dict[str, tuple] = {}
    throttles: dict[str, tuple] = {}

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
