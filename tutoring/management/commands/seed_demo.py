"""Idempotent demo data for the embedded default: staff, two tutors, two students, printed logins."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from live.services import session_create
from marketplace.services import HoursIn, availability_set, review_create
from payments.selectors import tutor_earnings
from payments.services import earnings_release_due, payment_intent_create
from payments.stripe import get_provider
from payments.stripe.sandbox import account_snapshot, deliver, payment_intent_snapshot
from tutoring.models import Booking, Role, TutorProfile, TutorSubject, User
from tutoring.services import booking_complete, booking_create, booking_price
from withdrawals.services import account_create

DEMO_PASSWORD = "demo-pass-2468"

ACCOUNTS = [
    {"email": "staff@demo.test", "name": "Sam Staff", "role": Role.STAFF},
    {
        "email": "ada@demo.test",
        "name": "Ada Lovelace",
        "role": Role.TUTOR,
        "profile": {"hourly_rate": 4000, "bio": "Mathematics and first programs."},
        "subjects": ["Mathematics", "Programming"],
        # Every day 08:00–12:00 and 13:00–20:00 in London.
        "hours": ("Europe/London", [(8 * 60, 12 * 60), (13 * 60, 20 * 60)]),
    },
    {
        "email": "alan@demo.test",
        "name": "Alan Turing",
        "role": Role.TUTOR,
        "profile": {"hourly_rate": 5500, "bio": "Logic, computability and cryptography."},
        "subjects": ["Logic", "Cryptography", "Mathematics"],
        # Evenings in Shanghai, 18:00–22:00.
        "hours": ("Asia/Shanghai", [(18 * 60, 22 * 60)]),
    },
    {"email": "grace@demo.test", "name": "Grace Student", "role": Role.STUDENT},
    {"email": "linus@demo.test", "name": "Linus Student", "role": Role.STUDENT},
]


class Command(BaseCommand):
    help = "Create or refresh the demo accounts (idempotent) and print their logins."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow running with DJANGO_DEBUG=0.")

    @transaction.atomic
    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates accounts with a known password; use --force outside DEBUG.")
        for spec in ACCOUNTS:
            user = self._user(spec)
            if spec["role"] == Role.TUTOR:
                profile, _ = TutorProfile.objects.update_or_create(user=user, defaults=spec["profile"])
                profile.subjects.all().delete()
                TutorSubject.objects.bulk_create(
                    TutorSubject(tutor=profile, name=name, position=i) for i, name in enumerate(spec["subjects"])
                )
                zone, windows = spec["hours"]
                availability_set(
                    user=user,
                    timezone_name=zone,
                    weekly=[HoursIn(start, end, weekday=day) for day in range(7) for start, end in windows],
                    exceptions=[],
                )
        self.stdout.write(self.style.SUCCESS(f"Demo accounts (password for all: {DEMO_PASSWORD}):"))
        for spec in ACCOUNTS:
            self.stdout.write(f"  {spec['role']:<8} {spec['email']}")
        self.stdout.write("Log in to /admin/ as staff; get API tokens from POST /api/auth/token.")
        self._activity()

    def _activity(self) -> None:
        """A class held last week (Ada has earnings and a verified payout account) and a paid class
        tomorrow with its classroom open, all reached through the real services and sandbox events."""
        if not (get_provider().sandbox and settings.TWILIO_SANDBOX):
            self.stdout.write("Real Stripe/Twilio keys are set: no demo payments or classes were made.")
            return
        ada, grace, linus = (User.objects.get(email=e) for e in ("ada@demo.test", "grace@demo.test", "linus@demo.test"))
        if not Booking.objects.filter(tutor=ada).exists():
            today = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
            held = Booking.objects.create(
                tutor=ada,
                student=linus,
                subject="Mathematics",
                start_time=today - timedelta(days=7),
                end_time=today - timedelta(days=7, minutes=-90),
                duration_minutes=90,
                price=booking_price(hourly_rate=4000, duration_minutes=90),
                currency="usd",
            )
            _pay(held)
            booking_complete(booking_id=held.pk, at=held.end_time)
            review_create(booking_id=held.pk, user=linus, rating=5, comment="Patient, clear, and fun.")
            # The earnings hold of that class is long over: what the hourly job would do.
            earnings_release_due(now=timezone.now(), tutor_id=ada.pk)
            upcoming = booking_create(
                student=grace,
                tutor_id=ada.pk,
                start_time=today + timedelta(days=1),
                duration_minutes=60,
                subject="Programming",
            )
            _pay(upcoming)
            session_create(booking_id=upcoming.pk, user=grace)
            account, _ = account_create(user=ada)
            deliver("account.updated", account_snapshot(account.provider_id, verified=True))
        earned = tutor_earnings(tutor_id=ada.pk)
        self.stdout.write(
            f"Demo activity: Ada has {earned.balance} cents to withdraw (verified payout account); "
            f"Grace has a paid class with Ada tomorrow, classroom open; Ada and Alan have weekly hours "
            f"(free times on their profiles), and Linus reviewed his class with Ada."
        )

    def _user(self, spec) -> User:
        staff = spec["role"] == Role.STAFF
        user, _ = User.objects.update_or_create(
            email=spec["email"],
            defaults={"name": spec["name"], "role": spec["role"], "is_staff": staff, "is_superuser": staff},
        )
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        return user


def _pay(booking: Booking) -> None:
    payment = payment_intent_create(booking_id=booking.pk, user=booking.student)
    deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
