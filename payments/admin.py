from django.contrib import admin

from payments import services
from payments.models import LedgerEntry, Payment, Refund, WebhookEvent
from tutoring.admin_base import ReadOnlyAdmin, ReviewQueueAdmin, decision_action


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("provider_id", "booking", "amount", "currency", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("provider_id", "booking__id")
    list_select_related = ("booking",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "object_id", "outcome", "received_at")
    list_filter = ("type",)
    search_fields = ("event_id", "object_id")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tutor", "account", "kind", "amount", "currency", "booking_id", "refund_id")
    list_filter = ("account", "kind")
    search_fields = ("tutor__email", "key")
    list_select_related = ("tutor",)


@admin.register(Refund)
class RefundAdmin(ReviewQueueAdmin):
    """The refund review queue: filter by status, approve or reject with a note."""

    list_display = (
        "id",
        "booking",
        "amount",
        "currency",
        "status",
        "origin",
        "requested_by",
        "created_at",
        "decided_by",
    )
    list_filter = ("status", "origin")
    search_fields = ("id", "booking__id", "requested_by__email", "provider_id")
    list_select_related = ("booking", "requested_by", "decided_by")
    actions = [
        decision_action(
            name="approve_refunds",
            label="Approve selected refunds",
            service=lambda pk, **kw: services.refund_approve(refund_id=pk, **kw),
            note_required=False,
            allow_amount=True,
        ),
        decision_action(
            name="reject_refunds",
            label="Reject selected refunds",
            service=lambda pk, **kw: services.refund_reject(refund_id=pk, **kw),
            note_required=True,
        ),
    ]
