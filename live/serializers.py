"""Input validation and output shapes of the classroom (docs/api.md "Live classroom"), also the payloads of the
realtime events."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from live.models import (
    EventType,
    Message,
    ParticipantRole,
    Recording,
    RecordingStatus,
    Session,
    SessionEvent,
    SessionStatus,
)
from tutoring.api.fields import DateTimeField, iso_utc


class SessionCreateIn(serializers.Serializer):
    bookingId = serializers.UUIDField()


class SessionOut(serializers.Serializer):
    id = serializers.UUIDField()
    bookingId = serializers.UUIDField(source="booking_id")
    roomName = serializers.CharField(source="room_name")
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    tutorId = serializers.UUIDField(source="booking.tutor_id")
    studentId = serializers.UUIDField(source="booking.student_id")
    scheduledStartTime = DateTimeField(source="booking.start_time")
    scheduledEndTime = DateTimeField(source="booking.end_time")
    actualStartTime = DateTimeField(source="actual_start_time", allow_null=True)
    actualEndTime = DateTimeField(source="actual_end_time", allow_null=True)


class SessionJoinOut(serializers.Serializer):
    session = SessionOut()
    tutorToken = serializers.CharField(allow_null=True, help_text="Only for the tutor; null for anyone else.")
    studentToken = serializers.CharField(allow_null=True, help_text="Only for the student; null for anyone else.")


class SessionStartOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    actualStartTime = DateTimeField(source="actual_start_time")


class SessionEndOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    actualEndTime = DateTimeField(source="actual_end_time")


class SessionUpdatedEvent(serializers.Serializer):
    """The `session_updated` realtime payload."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    actualStartTime = DateTimeField(source="actual_start_time", allow_null=True)
    actualEndTime = DateTimeField(source="actual_end_time", allow_null=True)


class TokenOut(serializers.Serializer):
    token = serializers.CharField()
    identity = serializers.CharField()
    roomName = serializers.CharField(source="room_name")
    expiresAt = DateTimeField(source="expires_at")


class ParticipantOut(serializers.Serializer):
    id = serializers.UUIDField(source="user_id")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=ParticipantRole.choices)
    isAudioEnabled = serializers.BooleanField(source="is_audio_enabled")
    isVideoEnabled = serializers.BooleanField(source="is_video_enabled")
    isScreenSharing = serializers.BooleanField(source="is_screen_sharing")
    handRaised = serializers.BooleanField(source="hand_raised")
    isConnected = serializers.BooleanField(source="is_connected")
    audioMuted = serializers.BooleanField(source="audio_muted", help_text="Muted by the tutor: not forwarded.")
    videoMuted = serializers.BooleanField(source="video_muted", help_text="Muted by the tutor: not forwarded.")
    removed = serializers.BooleanField(help_text="Removed by the tutor until admitted again.")


def participant_out(row) -> dict:
    """`ParticipantOut` of a `live.selectors.ParticipantRow`, written out: the classroom polls this read,
    and DRF's field machinery cost more than the rest of the view (a test keeps the two the same)."""
    return {
        "id": str(row.user_id),
        "name": row.name,
        "role": row.role,
        "isAudioEnabled": row.is_audio_enabled,
        "isVideoEnabled": row.is_video_enabled,
        "isScreenSharing": row.is_screen_sharing,
        "handRaised": row.hand_raised,
        "isConnected": row.is_connected,
        "audioMuted": row.audio_muted,
        "videoMuted": row.video_muted,
        "removed": row.removed,
    }


class ParticipantListOut(serializers.Serializer):
    participants = ParticipantOut(many=True)


class MessageOut(serializers.ModelSerializer):
    sessionId = serializers.UUIDField(source="session_id")
    senderId = serializers.UUIDField(source="sender_id")
    timestamp = DateTimeField(source="created_at")

    class Meta:
        model = Message
        fields = ["id", "sessionId", "senderId", "content", "timestamp"]


def message_out(message: Message) -> dict:
    """`MessageOut` of a message, written out: the chat writer shapes every stored message with it, and
    building DRF's fields per batch cost more than storing the batch (a test keeps the two the same)."""
    return {
        "id": str(message.id),
        "sessionId": str(message.session_id),
        "senderId": str(message.sender_id),
        "content": message.content,
        "timestamp": iso_utc(message.created_at),
    }


@extend_schema_serializer(many=False)  # a page object, not a list
class MessageListOut(serializers.Serializer):
    messages = MessageOut(many=True)
    next = serializers.CharField(allow_null=True)


class MuteIn(serializers.Serializer):
    audio = serializers.BooleanField(required=False, allow_null=True, default=None)
    video = serializers.BooleanField(required=False, allow_null=True, default=None)


class EventOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uid")
    type = serializers.ChoiceField(choices=EventType.choices)
    actorId = serializers.UUIDField(source="actor_id", allow_null=True)
    data = serializers.JSONField()
    timestamp = DateTimeField()

    class Meta:
        model = SessionEvent
        fields = ["id", "type", "actorId", "data", "timestamp"]


@extend_schema_serializer(many=False)
class EventListOut(serializers.Serializer):
    events = EventOut(many=True)
    next = serializers.CharField(allow_null=True)


class AttendancePresenceOut(serializers.Serializer):
    firstJoinedAt = DateTimeField(source="first_joined_at", allow_null=True)
    lastLeftAt = DateTimeField(source="last_left_at", allow_null=True)
    presentSeconds = serializers.IntegerField(source="present_seconds")


class AttendanceOut(serializers.Serializer):
    tutor = AttendancePresenceOut()
    student = AttendancePresenceOut()


class SessionStatsOut(serializers.Serializer):
    durationSeconds = serializers.IntegerField(source="duration_seconds")
    messagesCount = serializers.IntegerField(source="messages_count")
    handRaisesCount = serializers.IntegerField(source="hand_raises_count")
    attendance = AttendanceOut()


class RecordingOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=RecordingStatus.choices)
    startedAt = DateTimeField(source="started_at", allow_null=True)
    stoppedAt = DateTimeField(source="stopped_at", allow_null=True)
    url = serializers.SerializerMethodField(
        help_text="Once ready: a link on this site that opens the file for a short while "
        "(RECORDING_LINK_TTL_SECONDS); null before."
    )
    durationSeconds = serializers.IntegerField(source="duration_seconds", allow_null=True)

    def get_url(self, recording: Recording) -> str | None:
        from live.selectors import recording_link

        return recording_link(recording=recording)


def recording_event(recording: Recording) -> dict:
    """The `recording_updated` payload."""
    return {"sessionId": str(recording.session_id), "recording": dict(RecordingOut(recording).data)}


def session_event(session: Session) -> dict:
    return dict(SessionUpdatedEvent(session).data)
