"""Who is on the other end of a realtime connection: the access JWT of docs/api.md "Conventions", for both transports.

Socket.IO sends it in the connect packet (`io('/live', {auth: {token}})`) or as `?token=` for clients
that cannot set `auth`; the Channels WebSocket sends it as `?token=`. The same checks as the REST API
apply (signature, expiry, token type, an active user), through the API's own authentication class; the
connection is closed when the token expires (`live.realtime.events`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from django.utils.translation import gettext_lazy
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from tutoring.api.auth import JWTAuthentication
from tutoring.errors import Unauthorized
from tutoring.models import User

MISSING = gettext_lazy("Authentication credentials were not provided.")
INVALID = gettext_lazy("The access token is invalid or expired.")


def token_from_query(query_string: bytes | str) -> str | None:
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    values = parse_qs(query_string).get("token")
    return values[0] if values else None


def token_user(raw: object) -> tuple[User, float]:
    """The active user an access token names and when the token expires (epoch seconds);
    `Unauthorized` for anything else. In a database thread."""
    if not isinstance(raw, str) or not raw.strip():
        raise Unauthorized(MISSING)
    auth = JWTAuthentication()
    try:
        token = auth.get_validated_token(raw.strip())
        return auth.get_user(token), float(token["exp"])
    except (InvalidToken, TokenError, AuthenticationFailed, KeyError, TypeError, ValueError):
        raise Unauthorized(INVALID) from None
