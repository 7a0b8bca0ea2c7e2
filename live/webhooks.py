"""`POST /api/webhooks/twilio/video`: Twilio Video room status callbacks (CONTRACT §8).

Twilio signs the URL it calls plus the sorted form fields with the account's Auth Token
(`X-Twilio-Signature`). The URL it calls is the status callback we gave it when creating the room
(SITE_URL + path), which behind a proxy can differ from what Django sees, so both are accepted.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from live import services
from live.video import status_callback_url
from tutoring.api.errors import error_response

logger = logging.getLogger(__name__)


def signature_is_valid(request) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    if not settings.TWILIO_AUTH_TOKEN:
        # An empty key would accept anyone's HMAC: refuse everything rather than trust it.
        logger.error("TWILIO_AUTH_TOKEN is not set; refusing Twilio callbacks")
        return False
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    urls = dict.fromkeys([status_callback_url(), request.build_absolute_uri()])
    return any(validator.validate(url, request.POST, signature) for url in urls)


@csrf_exempt
@require_POST
def twilio_video_callback(request):
    if not signature_is_valid(request):
        return error_response(request, 403, "Invalid or missing Twilio signature.")
    outcome = services.video_callback_handle(params=request.POST.dict())
    logger.info("twilio video callback: %s", outcome)
    return JsonResponse({"data": {"received": True}})
