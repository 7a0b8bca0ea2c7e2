"""Live classroom: one session per booking, the two participants' state, and the chat (docs/api.md "Live classroom")."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SessionStatus(models.TextChoices):
    CREATED = "created", "Created"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"


class Session(models.Model):
    """The classroom of one booking. Parties and scheduled times are the booking's, never copied."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.OneToOneField("tutoring.Booking", on_delete=models.PROTECT, related_name="live_session")
    room_name = models.CharField(max_length=128, unique=True, help_text="The provider room's unique name.")
    room_sid = models.CharField(max_length=64, unique=True, help_text="The provider room's id (Twilio RM…).")
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.CREATED)
    actual_start_time = models.DateTimeField(null=True, blank=True)
    actual_end_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Each status carries exactly the timestamps it implies, whatever code writes the row.
            models.CheckConstraint(
                condition=Q(status=SessionStatus.CREATED, actual_start_time__isnull=True, actual_end_time__isnull=True)
                | Q(status=SessionStatus.ACTIVE, actual_start_time__isnull=False, actual_end_time__isnull=True)
                | Q(status=SessionStatus.COMPLETED, actual_start_time__isnull=False, actual_end_time__isnull=False),
                name="live_session_status_times",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.room_name} ({self.status})"

    def new_participants(self) -> list[Participant]:
        """The rows a session starts with: both parties, unsaved."""
        return [
            Participant(session=self, user_id=self.booking.tutor_id, role=ParticipantRole.TUTOR),
            Participant(session=self, user_id=self.booking.student_id, role=ParticipantRole.STUDENT),
        ]


class ParticipantRole(models.TextChoices):
    TUTOR = "tutor", "Tutor"
    STUDENT = "student", "Student"


class Participant(models.Model):
    """A party's state in the classroom; both rows exist from the moment the session is created.

    Everything starts off: nothing is known until a client (realtime) or the provider (callbacks) says so.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=ParticipantRole.choices)
    is_audio_enabled = models.BooleanField(default=False)
    is_video_enabled = models.BooleanField(default=False)
    is_screen_sharing = models.BooleanField(default=False)
    hand_raised = models.BooleanField(default=False)
    is_connected = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="live_participant_once"),
            models.UniqueConstraint(fields=["session", "role"], name="live_participant_one_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.user_id}"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # History pages read one session's messages newest first by (created_at, id): one index range scan.
        indexes = [models.Index(fields=["session", "-created_at", "-id"], name="live_message_session_created")]

    def __str__(self) -> str:
        return f"{self.sender_id}: {self.content[:40]}"


class Connection(models.Model):
    """One open realtime connection (either transport) of a realtime process.

    Its process refreshes `expires_at` every heartbeat; a row whose process died stops being refreshed,
    and once it expires any process's sweep deletes it and settles presence (docs/realtime.md
    "Presence"). Also what the connections-per-user limit counts.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    process_id = models.UUIDField(db_index=True)
    opened_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="live_connection_user_expires")]

    def __str__(self) -> str:
        return f"connection {self.pk} of {self.user_id}"


class Presence(models.Model):
    """A connection has joined a session: its user counts as connected there while the row lives."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="presences")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "session"], name="live_presence_once")]

    def __str__(self) -> str:
        return f"{self.connection_id} in {self.session_id}"
