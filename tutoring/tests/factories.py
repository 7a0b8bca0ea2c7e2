from datetime import timedelta

import factory
from django.utils import timezone

from tutoring.models import Booking, BookingStatus, Role, TutorProfile, TutorSubject, User
from tutoring.services import booking_price

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Faker("name")
    role = Role.STUDENT
    password = factory.django.Password(PASSWORD)


class StudentFactory(UserFactory):
    role = Role.STUDENT


class StaffFactory(UserFactory):
    role = Role.STAFF
    is_staff = True
    is_superuser = True


class TutorFactory(UserFactory):
    role = Role.TUTOR

    @factory.post_generation
    def profile(obj, create, extracted, **kwargs):
        if not create:
            return
        profile = TutorProfile.objects.create(
            user=obj, hourly_rate=kwargs.get("hourly_rate", 6000), currency=kwargs.get("currency", "usd")
        )
        for i, name in enumerate(kwargs.get("subjects", ["Mathematics"])):
            TutorSubject.objects.create(tutor=profile, name=name, position=i)


class BookingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Booking

    tutor = factory.SubFactory(TutorFactory)
    student = factory.SubFactory(StudentFactory)
    subject = "Mathematics"
    start_time = factory.Sequence(lambda n: timezone.now() + timedelta(days=1, hours=2 * n))
    duration_minutes = 60
    end_time = factory.LazyAttribute(lambda b: b.start_time + timedelta(minutes=b.duration_minutes))
    currency = factory.LazyAttribute(lambda b: b.tutor.tutor_profile.currency)
    price = factory.LazyAttribute(
        lambda b: booking_price(
            hourly_rate=b.tutor.tutor_profile.hourly_rate, duration_minutes=b.duration_minutes, currency=b.currency
        )
    )
    status = BookingStatus.PENDING_PAYMENT
