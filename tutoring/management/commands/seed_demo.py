"""Idempotent demo data for the embedded default: staff, two tutors, two students, printed logins."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tutoring.models import Role, TutorProfile, TutorSubject, User

DEMO_PASSWORD = "demo-pass-2468"

ACCOUNTS = [
    {"email": "staff@demo.test", "name": "Sam Staff", "role": Role.STAFF},
    {
        "email": "ada@demo.test",
        "name": "Ada Lovelace",
        "role": Role.TUTOR,
        "profile": {"hourly_rate": 4000, "bio": "Mathematics and first programs."},
        "subjects": ["Mathematics", "Programming"],
    },
    {
        "email": "alan@demo.test",
        "name": "Alan Turing",
        "role": Role.TUTOR,
        "profile": {"hourly_rate": 5500, "bio": "Logic, computability and cryptography."},
        "subjects": ["Logic", "Cryptography", "Mathematics"],
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
        self.stdout.write(self.style.SUCCESS(f"Demo accounts (password for all: {DEMO_PASSWORD}):"))
        for spec in ACCOUNTS:
            self.stdout.write(f"  {spec['role']:<8} {spec['email']}")
        self.stdout.write("Log in to /admin/ as staff; get API tokens from POST /api/auth/token.")

    def _user(self, spec) -> User:
        staff = spec["role"] == Role.STAFF
        user, _ = User.objects.update_or_create(
            email=spec["email"],
            defaults={"name": spec["name"], "role": spec["role"], "is_staff": staff, "is_superuser": staff},
        )
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        return user
