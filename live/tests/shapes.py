"""The contract's field sets (docs/api.md "Live classroom"), for the tests of both the REST and realtime shapes."""

SESSION_KEYS = {
    "id",
    "bookingId",
    "roomName",
    "status",
    "tutorId",
    "studentId",
    "scheduledStartTime",
    "scheduledEndTime",
    "actualStartTime",
    "actualEndTime",
}

PARTICIPANT_KEYS = {
    "id",
    "name",
    "role",
    "isAudioEnabled",
    "isVideoEnabled",
    "isScreenSharing",
    "handRaised",
    "isConnected",
    "audioMuted",
    "videoMuted",
    "removed",
}
