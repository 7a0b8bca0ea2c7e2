"""The API's payment resources (docs/api.md "Payments"): payment intents, the sandbox's card form,
refunds."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from payments import selectors, services
from payments.serializers import (
    IntentIn,
    IntentOut,
    RefundApproveIn,
    RefundIn,
    RefundOut,
    RefundRejectIn,
    SandboxConfirmIn,
    SandboxConfirmOut,
)
from payments.stripe import sandbox
from tutoring.api.permissions import IsStaff, IsStudent
from tutoring.api.ratelimit import PAYMENT_THROTTLES
from tutoring.api.validation import validated
from tutoring.api.viewsets import ApiViewSet


class PaymentIntentViewSet(ApiViewSet):
    permissions = {"create": (IsStudent,)}
    throttles = {"create": PAYMENT_THROTTLES}

    @extend_schema(request=IntentIn, responses={200: IntentOut}, tags=["payments"])
    def create(self, request):
        payment = services.payment_intent_create(
            booking_id=validated(IntentIn, request)["bookingId"], user=request.user
        )
        return Response(IntentOut(payment).data)


class SandboxPaymentViewSet(ApiViewSet):
    permissions = {"confirm": (IsStudent,)}

    @extend_schema(
        request=SandboxConfirmIn,
        responses=SandboxConfirmOut,
        tags=["payments"],
        description="Sandbox mode only (404 with real Stripe keys): the student pays; a signed "
        "`payment_intent.succeeded` (or `payment_failed`) goes through the webhook handler.",
    )
    @action(detail=False, methods=["post"])
    def confirm(self, request):
        v = validated(SandboxConfirmIn, request)
        payment = sandbox.payment_sandbox_confirm(
            payment_intent_id=v["paymentIntentId"], user=request.user, outcome=v["outcome"]
        )
        body = {
            "paymentIntentId": payment.provider_id,
            "status": payment.status,
            "bookingId": payment.booking_id,
            "bookingStatus": payment.booking.status,
        }
        return Response(SandboxConfirmOut(body).data)


class RefundViewSet(ApiViewSet):
    lookup_url_kwarg = "refund_id"
    permissions = {"create": (IsStudent,), "approve": (IsStaff,), "reject": (IsStaff,)}
    throttles = {"create": PAYMENT_THROTTLES}

    @extend_schema(request=RefundIn, responses={201: RefundOut}, tags=["refunds"])
    def create(self, request):
        v = validated(RefundIn, request)
        refund = services.refund_request(booking_id=v["bookingId"], user=request.user, reason=v["reason"])
        return Response(RefundOut(refund).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=RefundOut, tags=["refunds"])
    def retrieve(self, request, refund_id):
        return Response(RefundOut(selectors.refund_get_for_user(refund_id=refund_id, user=request.user)).data)

    @extend_schema(request=RefundApproveIn, responses=RefundOut, tags=["refunds"])
    @action(detail=True, methods=["post"])
    def approve(self, request, refund_id):
        v = validated(RefundApproveIn, request)
        refund = services.refund_approve(
            refund_id=refund_id, staff=request.user, amount=v.get("amount"), note=v["note"]
        )
        return Response(RefundOut(refund).data)

    @extend_schema(request=RefundRejectIn, responses=RefundOut, tags=["refunds"])
    @action(detail=True, methods=["post"])
    def reject(self, request, refund_id):
        refund = services.refund_reject(
            refund_id=refund_id, staff=request.user, note=validated(RefundRejectIn, request)["note"]
        )
        return Response(RefundOut(refund).data)
