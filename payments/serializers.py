from rest_framework import serializers

from payments.models import Refund
from tutoring.api.fields import DateTimeField, StrictIntegerField


class IntentIn(serializers.Serializer):
    bookingId = serializers.UUIDField()


class IntentOut(serializers.Serializer):
    clientSecret = serializers.CharField(source="client_secret")
    paymentIntentId = serializers.CharField(source="provider_id")


class SandboxConfirmIn(serializers.Serializer):
    paymentIntentId = serializers.CharField(max_length=255)
    outcome = serializers.ChoiceField(choices=["succeeded", "failed"], default="succeeded")


class SandboxConfirmOut(serializers.Serializer):
    paymentIntentId = serializers.CharField()
    status = serializers.CharField()
    bookingId = serializers.UUIDField()
    bookingStatus = serializers.CharField()


class RefundIn(serializers.Serializer):
    bookingId = serializers.UUIDField()
    reason = serializers.CharField(max_length=1000, min_length=1)


class RefundApproveIn(serializers.Serializer):
    amount = StrictIntegerField(required=False, min_value=1)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RefundRejectIn(serializers.Serializer):
    note = serializers.CharField(max_length=2000)


class RefundOut(serializers.ModelSerializer):
    bookingId = serializers.UUIDField(source="booking_id")
    createdAt = DateTimeField(source="created_at")
    decidedAt = DateTimeField(source="decided_at", allow_null=True)

    class Meta:
        model = Refund
        fields = ["id", "bookingId", "status", "amount", "reason", "createdAt", "decidedAt"]
