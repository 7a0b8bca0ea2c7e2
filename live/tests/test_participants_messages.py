"""Participants and chat: the two read endpoints, and the services the realtime transports call."""

from datetime import timedelta

import pytest
from django.utils import timezone

from live import selectors, services
from live.models import Message, Participant, SessionStatus
from live.serializers import ParticipantOut, participant_out
from live.tests.factories import SessionFactory, store_one
from live.tests.shapes import PARTICIPANT_KEYS
from tutoring.errors import ApplicationError
from tutoring.tests.factories import StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db


def url(session, action):
    return f"/api/live/sessions/{session.pk}/{action}"


def add_messages(session, n, start=None):
    """n messages alternating between the parties, one second apart, oldest first."""
    start = start or timezone.now() - timedelta(hours=1)
    users = [session.booking.student, session.booking.tutor]
    return [
        Message.objects.create(
            session=session, sender=users[i % 2], content=f"message {i}", created_at=start + timedelta(seconds=i)
        )
        for i in range(n)
    ]


class TestParticipants:
    def test_both_parties_tutor_first_with_their_state(self, client_for, session):
        booking = session.booking
        # Stored student first: the order of the answer must not depend on the order of the rows.
        Participant.objects.filter(session=session).delete()
        Participant.objects.create(session=session, user=booking.student, role="student", hand_raised=True)
        Participant.objects.create(session=session, user=booking.tutor, role="tutor", is_connected=True)
        for user in (booking.student, booking.tutor):
            participants = data(client_for(user).get(url(session, "participants")))["participants"]
            assert participants == [
                {
                    "id": str(booking.tutor_id),
                    "name": booking.tutor.name,
                    "role": "tutor",
                    "isAudioEnabled": False,
                    "isVideoEnabled": False,
                    "isScreenSharing": False,
                    "handRaised": False,
                    "isConnected": True,
                    "audioMuted": False,
                    "videoMuted": False,
                    "removed": False,
                },
                {
                    "id": str(booking.student_id),
                    "name": booking.student.name,
                    "role": "student",
                    "isAudioEnabled": False,
                    "isVideoEnabled": False,
                    "isScreenSharing": False,
                    "handRaised": True,
                    "isConnected": False,
                    "audioMuted": False,
                    "videoMuted": False,
                    "removed": False,
                },
            ]

    def test_realtime_updates_show(self, client_for, session):
        services.participant_update(
            session_id=session.pk, user=session.booking.student, updates={"isAudioEnabled": True, "handRaised": True}
        )
        tutor, student = data(client_for(session.booking.tutor).get(url(session, "participants")))["participants"]
        assert set(student) == PARTICIPANT_KEYS
        assert (student["isAudioEnabled"], student["handRaised"], student["isVideoEnabled"]) == (True, True, False)
        assert not any(tutor[key] for key in PARTICIPANT_KEYS - {"id", "name", "role"})

    def test_who_may(self, client_for, session, staff):
        path = url(session, "participants")
        assert_error(client_for(StudentFactory()).get(path), 404, path, "GET")
        assert_error(client_for(TutorFactory()).get(path), 404, path, "GET")
        assert_error(client_for(staff).get(path), 403, path, "GET")
        unknown = "/api/live/sessions/00000000-0000-4000-8000-000000000000/participants"
        assert_error(client_for(session.booking.tutor).get(unknown), 404, unknown, "GET")

    def test_query_count_is_pinned(self, client_for, session, django_assert_num_queries):
        client = client_for(session.booking.student)
        # One query: the participants with their names, the booking's parties and the signed-in user.
        with django_assert_num_queries(1):
            assert len(data(client.get(url(session, "participants")))["participants"]) == 2

    def test_the_written_out_shape_is_the_serializers(self, session):
        services.participant_update(session_id=session.pk, user=session.booking.tutor, updates={"handRaised": True})
        rows = selectors.participant_list_for_user(session_id=session.pk, user=session.booking.tutor)
        stored = sorted(Participant.objects.filter(session=session).select_related("user"), key=lambda p: p.role)
        assert [participant_out(row) for row in rows] == ParticipantOut(stored[::-1], many=True).data

    @pytest.mark.parametrize(
        ("gone", "which"),
        [
            ("deactivated", "party"),  # a party cannot be deleted: its booking protects the row
            ("deactivated", "stranger"),
            ("deleted", "stranger"),
            ("deactivated", "unknown session"),
            ("deleted", "unknown session"),
            ("deleted", "not a session id"),
        ],
    )
    def test_a_user_gone_since_the_token_was_issued_is_refused_as_everywhere(self, client_for, session, gone, which):
        user = session.booking.student if which == "party" else StudentFactory()
        client = client_for(user)
        if gone == "deactivated":
            user.is_active = False
            user.save(update_fields=["is_active"])
        else:
            user.delete()
        path = {
            "unknown session": "/api/live/sessions/00000000-0000-4000-8000-000000000000/participants",
            "not a session id": "/api/live/sessions/nope/participants",
        }.get(which, url(session, "participants"))
        response = client.get(path)
        elsewhere = client.get("/api/auth/me")
        if which == "not a session id":  # not a route at all: 404 before anyone is authenticated
            assert response.status_code == 404
            return
        assert elsewhere.status_code == 401
        assert (response.status_code, response.json(), response["WWW-Authenticate"]) == (
            401,
            {**elsewhere.json(), "path": path},
            elsewhere["WWW-Authenticate"],
        )


class TestMessages:
    def test_newest_first_in_pages(self, client_for, session):
        sent = add_messages(session, 5)
        client = client_for(session.booking.tutor)
        first = data(client.get(url(session, "messages"), {"limit": 2}))
        assert set(first) == {"messages", "next"}
        assert [m["content"] for m in first["messages"]] == ["message 4", "message 3"]
        newest = first["messages"][0]
        assert newest == {
            "id": str(sent[4].pk),
            "sessionId": str(session.pk),
            "senderId": str(session.booking.student_id),
            "content": "message 4",
            "timestamp": sent[4].created_at.isoformat(timespec="milliseconds"),
        }
        assert newest["timestamp"].endswith("+00:00")
        second = data(client.get(url(session, "messages"), {"limit": 2, "cursor": first["next"]}))
        assert [m["content"] for m in second["messages"]] == ["message 2", "message 1"]
        last = data(client.get(url(session, "messages"), {"limit": 2, "cursor": second["next"]}))
        assert [m["content"] for m in last["messages"]] == ["message 0"]
        assert last["next"] is None

    def test_same_instant_messages_are_neither_lost_nor_repeated(self, client_for, session):
        at = timezone.now()
        sent = {m.pk for m in add_messages(session, 1, start=at)} | {
            Message.objects.create(session=session, sender=session.booking.tutor, content=str(i), created_at=at).pk
            for i in range(4)
        }
        client, seen, cursor = client_for(session.booking.tutor), [], None
        while True:
            page = data(client.get(url(session, "messages"), {"limit": 2, **({"cursor": cursor} if cursor else {})}))
            seen += [m["id"] for m in page["messages"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(str(pk) for pk in sent)

    def test_only_this_sessions_messages(self, client_for, session):
        add_messages(SessionFactory(), 3)
        assert data(client_for(session.booking.student).get(url(session, "messages"))) == {"messages": [], "next": None}

    def test_bad_paging_400(self, client_for, session):
        path = url(session, "messages")
        client = client_for(session.booking.student)
        assert "cursor" in assert_error(client.get(path, {"cursor": "garbage!"}), 400, path, "GET")["errors"]
        assert "limit" in assert_error(client.get(path, {"limit": 0}), 400, path, "GET")["errors"]

    def test_who_may(self, client_for, session, staff):
        path = url(session, "messages")
        assert_error(client_for(StudentFactory()).get(path), 404, path, "GET")
        assert_error(client_for(staff).get(path), 403, path, "GET")

    @pytest.mark.parametrize("count", [1, 30])
    def test_query_count_does_not_grow_with_messages(self, client_for, session, django_assert_num_queries, count):
        add_messages(session, count)
        client = client_for(session.booking.student)
        # The user (JWT), the session with its booking, one page of messages.
        with django_assert_num_queries(3):
            assert len(data(client.get(url(session, "messages"), {"limit": 50}))["messages"]) == count


class TestMessagesStore:
    def test_length_limits(self, session):
        student = session.booking.student
        store_one(session_id=session.pk, sender=student, content="x" * 2000)
        store_one(session_id=session.pk, sender=student, content=" " + "y" * 2000 + " ")
        for content in ["", "   \n\t", "z" * 2001, None, 42]:
            with pytest.raises(ApplicationError) as info:
                store_one(session_id=session.pk, sender=student, content=content)
            assert info.value.status_code == 400 and "content" in info.value.errors
        assert Message.objects.count() == 2

    def test_who_may(self, session, staff):
        for outsider in (StudentFactory(), staff):
            with pytest.raises(ApplicationError) as info:
                store_one(session_id=session.pk, sender=outsider, content="hello")
            assert info.value.status_code == 403
        for unknown in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
            with pytest.raises(ApplicationError) as info:
                store_one(session_id=unknown, sender=session.booking.student, content="hello")
            assert info.value.status_code == 404
        assert not Message.objects.exists()

    def test_not_after_the_class_409(self):
        session = SessionFactory(
            status=SessionStatus.COMPLETED, actual_start_time=timezone.now(), actual_end_time=timezone.now()
        )
        with pytest.raises(ApplicationError) as info:
            store_one(session_id=session.pk, sender=session.booking.student, content="hello")
        assert info.value.status_code == 409


class TestParticipantUpdate:
    def test_stored_and_only_changes_published(self, session, subscribe, django_capture_on_commit_callbacks):
        student = session.booking.student
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.participant_update(
                session_id=session.pk, user=student, updates={"isVideoEnabled": True, "isScreenSharing": False}
            )
        assert subscriber.receive()["data"] == {"participantId": str(student.pk), "updates": {"isVideoEnabled": True}}
        with django_capture_on_commit_callbacks(execute=True):
            services.participant_update(session_id=session.pk, user=student, updates={"isVideoEnabled": True})
        marker = subscriber.mark()
        assert subscriber.receive() == marker  # nothing changed, nothing said
        row = Participant.objects.get(session=session, user=student)
        assert (row.is_video_enabled, row.is_screen_sharing, row.is_audio_enabled) == (True, False, False)

    @pytest.mark.parametrize(
        "updates",
        [{}, {"isConnected": True}, {"isAudioEnabled": "yes"}, {"isAudioEnabled": 1}, {"mood": True}, ["handRaised"]],
    )
    def test_bad_updates_400(self, session, updates):
        with pytest.raises(ApplicationError) as info:
            services.participant_update(session_id=session.pk, user=session.booking.tutor, updates=updates)
        assert info.value.status_code == 400 and "updates" in info.value.errors
        assert not Participant.objects.filter(is_connected=True).exists()

    def test_who_may_and_when(self, session, staff):
        with pytest.raises(ApplicationError) as info:
            services.participant_update(session_id=session.pk, user=staff, updates={"handRaised": True})
        assert info.value.status_code == 403
        session.status, session.actual_start_time, session.actual_end_time = "completed", timezone.now(), timezone.now()
        session.save()
        with pytest.raises(ApplicationError) as info:
            services.participant_update(session_id=session.pk, user=session.booking.tutor, updates={"handRaised": True})
        assert info.value.status_code == 409
