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
from tutoring.models import BookingStatus
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
