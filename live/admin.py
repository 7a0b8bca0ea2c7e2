"""Staff view of classrooms (docs/api.md "Staff"): sessions with their participants, chat and record (events,
figures and attendance), read-only.

The one thing staff can do is end a class, and the action calls the same service as the API.
"""

from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from live import selectors
from live.models import Message, Participant, Session, SessionEvent
from live.services import session_end
from tutoring.admin_base import ReadOnlyAdmin
from tutoring.errors import ApplicationError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = (
        "user",
        "role",
        "is_connected",
        "is_audio_enabled",
        "is_video_enabled",
        "is_screen_sharing",
        "hand_raised",
        "audio_muted",
        "video_muted",
        "removed",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("-role")


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "sender", "content")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sender")


class SessionEventInline(ReadOnlyInline):
    """The session's record, oldest first."""

    model = SessionEvent
    verbose_name_plural = "record (events, oldest first)"
    fields = ("timestamp", "type", "actor", "data")
    readonly_fields = fields
    ordering = ("timestamp", "seq")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = (
        "room_name",
        "status",
        "tutor",
        "student",
        "scheduled_start",
        "actual_start_time",
        "actual_end_time",
    )
    list_filter = ("status",)
    search_fields = ("id", "room_name", "room_sid", "booking__id", "booking__tutor__email", "booking__student__email")
    list_select_related = ("booking__tutor", "booking__student")
    ordering = ("-created_at",)
    # State and provider ids move only through services (start, end, callbacks), never by hand.
    readonly_fields = (
        "id",
        "booking",
        "room_name",
        "room_sid",
        "status",
        "actual_start_time",
        "actual_end_time",
        "created_at",
        "updated_at",
        "figures",
        "attendance",
    )
    inlines = [ParticipantInline, SessionEventInline, MessageInline]
    actions = ["end_sessions"]

    @admin.display(ordering="booking__tutor__email")
    def tutor(self, obj):
        return obj.booking.tutor

    @admin.display(ordering="booking__student__email")
    def student(self, obj):
        return obj.booking.student

    @admin.display(ordering="booking__start_time", description="Scheduled start")
    def scheduled_start(self, obj):
        return obj.booking.start_time

    @admin.display(description="Figures")
    def figures(self, obj):
        stats = selectors.session_stats(session=obj)
        return (
            f"{stats['duration_seconds']} s long, {stats['messages_count']} messages, "
            f"{stats['hand_raises_count']} hand raises"
        )

    @admin.display(description="Attendance")
    def attendance(self, obj):
        attendance = selectors.session_attendance(session=obj)
        lines = []
        for role, presence in attendance.items():
            lines.append(
                f"{role}: {presence.present_seconds} s present, first joined {presence.first_joined_at or '-'}, "
                f"last left {presence.last_left_at or '-'}"
            )
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="End selected sessions", permissions=["change"])
    def end_sessions(self, request, queryset):
        ended = 0
        for session in queryset:
            try:
                session_end(session_id=session.pk, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{session.room_name}: {exc.message}", messages.ERROR)
            else:
                ended += 1
        if ended:
            self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """All chat, searchable; read-only."""

    list_display = ("created_at", "session", "sender", "content")
    search_fields = ("content", "session__room_name", "sender__email")
    list_select_related = ("session", "sender")
    ordering = ("-created_at",)
    readonly_fields = ("id", "session", "sender", "content", "created_at")
