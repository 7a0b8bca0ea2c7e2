"""HTTP views of CONTRACT §5."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

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


class IntentView(APIView):
    permission_classes = (IsStudent,)
    throttle_classes = PAYMENT_THROTTLES

    @extend_schema(request=IntentIn, responses=IntentOut, tags=["payments"])
    def post(self, request):
        payment = services.payment_intent_create(
            booking_id=validated(IntentIn, request)["bookingId"], user=request.user
        )
        return Response(IntentOut(payment).data)


class SandboxConfirmView(APIView):
    permission_classes = (IsStudent,)

    @extend_schema(
        request=SandboxConfirmIn,
        responses=SandboxConfirmOut,
        tags=["payments"],
        description="Sandbox mode only (404 with real Stripe keys): the student pays; a signed "
        "`payment_intent.succeeded` (or `payment_failed`) goes through the webhook handler.",
    )
    def post(self, request):
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


class RefundCreateView(APIView):
    permission_classes = (IsStudent,)
    throttle_classes = PAYMENT_THROTTLES

    @extend_schema(request=RefundIn, responses={201: RefundOut}, tags=["refunds"])
    def post(self, request):
        v = validated(RefundIn, request)
        refund = services.refund_request(booking_id=v["bookingId"], user=request.user, reason=v["reason"])
        return Response(RefundOut(refund).data, status=status.HTTP_201_CREATED)


class RefundDetailView(APIView):
    @extend_schema(responses=RefundOut, tags=["refunds"])
    def get(self, request, refund_id):
        return Response(RefundOut(selectors.refund_get_for_user(refund_id=refund_id, user=request.user)).data)


class RefundApproveView(APIView):
    permission_classes = (IsStaff,)

    @extend_schema(request=RefundApproveIn, responses=RefundOut, tags=["refunds"])
    def post(self, request, refund_id):
        v = validated(RefundApproveIn, request)
        refund = services.refund_approve(
            refund_id=refund_id, staff=request.user, amount=v.get("amount"), note=v["note"]
        )
        return Response(RefundOut(refund).data)


class RefundRejectView(APIView):
    permission_classes = (IsStaff,)

    @extend_schema(request=RefundRejectIn, responses=RefundOut, tags=["refunds"])
    def post(self, request, refund_id):
        refund = services.refund_reject(
            refund_id=refund_id, staff=request.user, note=validated(RefundRejectIn, request)["note"]
        )
        return Response(RefundOut(refund).data)
