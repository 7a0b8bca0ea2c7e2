from django.contrib import admin

from tutoring.admin_base import ReadOnlyAdmin, ReviewQueueAdmin, decision_action
from withdrawals import services
from withdrawals.models import ConnectedAccount, Withdrawal


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = ("provider_id", "tutor", "status", "payouts_enabled", "last_payout_status", "updated_at")
    list_filter = ("status",)
    search_fields = ("provider_id", "tutor__email")
    list_select_related = ("tutor",)


@admin.register(Withdrawal)
class WithdrawalAdmin(ReviewQueueAdmin):
    """The withdrawal review queue: approving transfers the money to the tutor's Connect account."""

    list_display = ("id", "tutor", "amount", "currency", "status", "created_at", "decided_by", "transfer_id")
    search_fields = ("id", "tutor__email", "transfer_id")
    list_select_related = ("tutor", "decided_by")
    actions = [
        decision_action(
            name="approve_withdrawals",
            label="Approve selected withdrawals (transfer the money)",
            service=lambda pk, **kw: services.withdrawal_approve(withdrawal_id=pk, **kw),
            note_required=False,
        ),
        decision_action(
            name="reject_withdrawals",
            label="Reject selected withdrawals",
            service=lambda pk, **kw: services.withdrawal_reject(withdrawal_id=pk, **kw),
            note_required=True,
        ),
    ]
