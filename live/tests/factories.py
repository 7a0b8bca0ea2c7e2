import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from live import services
from live.models import EventType, Message, Participant, Session, SessionEvent, SessionStatus
from live.realtime import broadcast
from live.serializers import MessageOut
from payments import ledger
from payments.models import Payment, PaymentStatus
from tutoring.errors import ApplicationError
from tutoring.models import Booking, BookingStatus, Role, User
from tutoring.tests.factories import BookingFactory


class PaidBookingFactory(BookingFactory):
    """A class about to begin (inside its class window) whose payment went through: `paid`, with its
    succeeded payment recorded and in the tutor's pending earnings."""

    class Meta:
        skip_postgeneration_save = True

    status = BookingStatus.PAID
    start_time = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))

    @factory.post_generation
    def payment(obj, create, extracted, **kwargs):
        if create:
            Payment.objects.create(
                booking=obj,
                provider_id=f"pi_{obj.pk.hex[:24]}",
                client_secret=f"pi_{obj.pk.hex[:24]}_secret_factory",
                amount=obj.price,
                currency=obj.currency,
                status=PaymentStatus.SUCCEEDED,
                succeeded_at=timezone.now(),
            )
            ledger.record_payment(booking=obj, amount=obj.price)


class SessionFactory(factory.django.DjangoModelFactory):
    """A session as `live.services.session_create` leaves it, with both participants."""

    class Meta:
        model = Session
        skip_postgeneration_save = True

    booking = factory.SubFactory(PaidBookingFactory)
    room_name = factory.LazyAttribute(lambda s: f"booking-{s.booking.pk}")
    room_sid = factory.Sequence(lambda n: f"RM{n:032x}")

    @factory.post_generation
    def participants(obj, create, extracted, **kwargs):
        if create:
            Participant.objects.bulk_create(obj.new_participants())


class ActiveSessionFactory(SessionFactory):
    """A session the tutor has started, with the student in the room (a realtime connection joined at the
    start and still there) unless `student_present=False`: ending it completes the booking."""

    status = SessionStatus.ACTIVE
    actual_start_time = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def student_present(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            SessionEvent.objects.create(
                session=obj,
                type=EventType.JOIN,
                actor_id=obj.booking.student_id,
                data={"via": "realtime", "connection": "factory"},
                timestamp=obj.actual_start_time,
            )


def store_one(*, session_id, sender, content) -> Message:
    """One chat message stored by the chat service and published after commit, as the realtime writer
    does for each message of a batch; its error raised."""
    (result,) = services.messages_store(
        drafts=[services.MessageDraft(session_id=session_id, sender=sender, content=content)]
    )
    if isinstance(result, ApplicationError):
        raise result
    broadcast(result.session_id, services.MESSAGE, dict(MessageOut(result).data))
    return result


def many_classrooms(count: int, *, label: str) -> list[Session]:
    """`count` paid bookings for tomorrow, each between a tutor and a student of its own (emails
    `{label}-t{i}` / `{label}-s{i}`), with an open session and its participants: in bulk, a few
    statements for thousands (the benchmarks' classrooms, query plans at size)."""
    start = timezone.now() + timedelta(days=1)
    users = User.objects.bulk_create(
        User(email=f"{label}-{kind}{i}@bench.test", name=f"{kind} {i}", role=role)
        for i in range(count)
        for kind, role in (("t", Role.TUTOR), ("s", Role.STUDENT))
    )
    bookings = Booking.objects.bulk_create(
        Booking(
            tutor=users[2 * i],
            student=users[2 * i + 1],
            start_time=start,
            end_time=start + timedelta(hours=1),
            duration_minutes=60,
            price=5000,
            currency="usd",
            status=BookingStatus.PAID,
        )
        for i in range(count)
    )
    sessions = Session.objects.bulk_create(
        Session(booking=booking, room_name=f"booking-{booking.pk}", room_sid=f"RM{uuid.uuid4().hex}")
        for booking in bookings
    )
    Participant.objects.bulk_create(p for session in sessions for p in session.new_participants())
    return sessions
