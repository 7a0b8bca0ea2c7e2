from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from tutoring.api.fields import DateTimeField, StrictIntegerField
from withdrawals.models import Withdrawal


class AccountOut(serializers.Serializer):
    accountId = serializers.CharField(source="provider_id")
    status = serializers.CharField()


class AccountDetailOut(AccountOut):
    payoutsEnabled = serializers.BooleanField(source="payouts_enabled")


class LinkIn(serializers.Serializer):
    returnUrl = serializers.CharField(max_length=2000)


class LinkOut(serializers.Serializer):
    url = serializers.URLField()


class WithdrawalIn(serializers.Serializer):
    amount = StrictIntegerField(min_value=1)


class WithdrawalOut(serializers.ModelSerializer):
    createdAt = DateTimeField(source="created_at")
    decidedAt = DateTimeField(source="decided_at", allow_null=True)

    class Meta:
        model = Withdrawal
        fields = ["id", "status", "amount", "currency", "createdAt", "decidedAt"]


@extend_schema_serializer(many=False)  # a page object, not a list
class WithdrawalListOut(serializers.Serializer):
    withdrawals = WithdrawalOut(many=True)
    next = serializers.CharField(allow_null=True)


class ApproveIn(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RejectIn(serializers.Serializer):
    note = serializers.CharField(max_length=2000)


class StatsOut(serializers.Serializer):
    currency = serializers.CharField(help_text="The tutor's currency: every figure is in its minor unit.")
    totalEarnings = serializers.IntegerField(source="total_earnings")
    totalWithdrawn = serializers.IntegerField(source="total_withdrawn")
    balance = serializers.IntegerField()
    paymentsCount = serializers.IntegerField(source="payments_count")
    withdrawalsCount = serializers.IntegerField(source="withdrawals_count")
    pendingEarnings = serializers.IntegerField(source="pending_earnings")
