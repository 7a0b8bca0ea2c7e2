from django.contrib import admin
from django.db.models import Prefetch

from live import selectors as live_selectors
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
        "attendance",
    )
    list_filter = ("status", "origin")
    search_fields = ("id", "booking__id", "requested_by__email", "provider_id")
    list_select_related = ("booking__live_session", "requested_by", "decided_by")
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

    def get_queryset(self, request):
        # Every row's attendance from one more query for the page, not one per row.
        events = Prefetch(
            "booking__live_session__events", queryset=live_selectors.presence_events(), to_attr="presence_events"
        )
        return super().get_queryset(request).prefetch_related(events)

    @admin.display(description="Attendance")
    def attendance(self, obj):
        session = getattr(obj.booking, "live_session", None)
        return live_selectors.attendance_summary(session=session, events=getattr(session, "presence_events", None))
