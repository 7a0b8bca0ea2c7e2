from django.contrib import admin

from notifications.models import Notification
from tutoring.admin_base import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The email outbox: what was sent when, what waits and what failed (with the mail server's answer)."""

    list_display = ("kind", "user", "email", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("user__email", "email", "key")
    list_select_related = ("user",)
    raw_id_fields = ("user", "booking")
    date_hierarchy = "created_at"
