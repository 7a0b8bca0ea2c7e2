"""`POST /api/webhooks/twilio/video` and `/api/webhooks/twilio/composition`: Twilio Video's room and
composition status callbacks (docs/api.md "Webhooks").

Twilio signs the URL it calls plus the sorted form fields with the account's Auth Token
(`X-Twilio-Signature`). The URL it calls is the status callback we gave it when creating the room
(SITE_URL + path), which behind a proxy can differ from what Django sees, so both are accepted.
"""

from __future__ import annotations

import logging

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from twilio.request_validator import RequestValidator

from live import services
from live.video import composition_callback_url, status_callback_url
from tutoring.errors import Forbidden

logger = logging.getLogger(__name__)


def _signed(params, signature: str, urls) -> bool:
    if not signature:
        return False
    if not settings.TWILIO_AUTH_TOKEN:
        # An empty key would accept anyone's HMAC: refuse everything rather than trust it.
        logger.error("TWILIO_AUTH_TOKEN is not set; refusing Twilio callbacks")
        return False
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    return any(validator.validate(url, params, signature) for url in dict.fromkeys(urls))


def signature_is_valid(request, params, callback_url: str | None = None) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    return _signed(params, signature, [callback_url or status_callback_url(), request.build_absolute_uri()])


def composition_callback_receive(*, params, signature: str, urls) -> str:
    """Verify and apply one composition callback (the view's and the sandbox's one way in)."""
    if not _signed(params, signature, urls):
        raise Forbidden("Invalid or missing Twilio signature.")
    outcome = services.composition_callback_handle(params=params.dict() if hasattr(params, "dict") else params)
    logger.info("twilio composition callback: %s", outcome)
    return outcome


class _TwilioCallback(APIView):
    """Twilio calls these; they are authenticated by Twilio's signature only and never rate limited."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    parser_classes = (FormParser,)


class TwilioVideoCallbackView(_TwilioCallback):
    @extend_schema(
        request={"application/x-www-form-urlencoded": {"type": "object", "additionalProperties": {"type": "string"}}},
        responses=inline_serializer("TwilioCallbackReceived", {"received": serializers.BooleanField()}),
        parameters=[OpenApiParameter("X-Twilio-Signature", str, OpenApiParameter.HEADER, required=True)],
        tags=["webhooks"],
        description="Twilio Video room status callbacks, verified with `TWILIO_AUTH_TOKEN` (403 if not).",
    )
    def post(self, request):
        params = request.data
        if not signature_is_valid(request, params):
            raise Forbidden("Invalid or missing Twilio signature.")
        outcome = services.video_callback_handle(params=params.dict())
        logger.info("twilio video callback: %s", outcome)
        return Response({"received": True})


class TwilioCompositionCallbackView(_TwilioCallback):
    """Twilio's composition status callbacks; verified exactly as the room callbacks are."""

    @extend_schema(
        request={"application/x-www-form-urlencoded": {"type": "object", "additionalProperties": {"type": "string"}}},
        responses=inline_serializer("TwilioCompositionReceived", {"received": serializers.BooleanField()}),
        parameters=[OpenApiParameter("X-Twilio-Signature", str, OpenApiParameter.HEADER, required=True)],
        tags=["webhooks"],
        description="Twilio Video composition status callbacks, verified with `TWILIO_AUTH_TOKEN` (403 if not).",
    )
    def post(self, request):
        composition_callback_receive(
            params=request.data,
            signature=request.headers.get("X-Twilio-Signature", ""),
            urls=[composition_callback_url(), request.build_absolute_uri()],
        )
        return Response({"received": True})
