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
    # Set by the tutor (docs/classroom.md): the provider stops forwarding these tracks to the other party.
    audio_muted = models.BooleanField(default=False)
    video_muted = models.BooleanField(default=False)
    # Removed by the tutor: no token, realtime join or video connection until admitted again.
    removed = models.BooleanField(default=False)
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


class EventType(models.TextChoices):
    JOIN = "join", "Join"
    LEAVE = "leave", "Leave"
    START = "start", "Start"
    END = "end", "End"
    HAND_RAISE = "hand_raise", "Hand raised"
    HAND_LOWER = "hand_lower", "Hand lowered"
    AUDIO_ON = "audio_on", "Audio on"
    AUDIO_OFF = "audio_off", "Audio off"
    VIDEO_ON = "video_on", "Video on"
    VIDEO_OFF = "video_off", "Video off"
    SCREEN_SHARE_START = "screen_share_start", "Screen share started"
    SCREEN_SHARE_STOP = "screen_share_stop", "Screen share stopped"
    MUTE = "mute", "Mute"
    REMOVE = "remove", "Remove"
    ADMIT = "admit", "Admit"
    RECORDING_START = "recording_start", "Recording started"
    RECORDING_STOP = "recording_stop", "Recording stopped"
    VIDEO_CONNECTED = "video_connected", "Video connected"
    VIDEO_DISCONNECTED = "video_disconnected", "Video disconnected"


class SessionEvent(models.Model):
    """One thing that happened in a session, written as it happens (docs/classroom.md "The record").

    `seq` (an increasing integer) breaks ties between events of one timestamp, so the record has one
    order; `uid` is the public id. `dedup_key` names an event that may be reported twice (a provider
    callback retried): the second report finds the first and writes nothing.
    """

    seq = models.BigAutoField(primary_key=True)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=EventType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    dedup_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "dedup_key"], name="live_event_once")]
        indexes = [models.Index(fields=["session", "timestamp", "seq"], name="live_event_session_time")]

    def __str__(self) -> str:
        return f"{self.type} by {self.actor_id} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class RecordingStatus(models.TextChoices):
    IDLE = "idle", "Idle"
    RECORDING = "recording", "Recording"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Recording(models.Model):
    """A session's recording (docs/classroom.md "Recording"): the provider records while the tutor has it on;
    when the class ends one composition of everything recorded is made, and its callback makes it ready."""

    session = models.OneToOneField(Session, on_delete=models.CASCADE, primary_key=True, related_name="recording")
    status = models.CharField(max_length=16, choices=RecordingStatus.choices, default=RecordingStatus.IDLE)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    composition_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"recording of {self.session_id} ({self.status})"
