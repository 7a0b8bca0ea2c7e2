import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from live.models import Session
from payments.selectors import tutor_earnings
from tutoring.management.commands.seed_demo import DEMO_PASSWORD
from tutoring.models import Booking, Role, TutorProfile, User
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import data

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_logins_work(api, settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    first = set(User.objects.values_list("pk", "email", "role"))
    bookings = set(Booking.objects.values_list("pk", "status"))
    call_command("seed_demo")
    assert set(User.objects.values_list("pk", "email", "role")) == first
    assert set(Booking.objects.values_list("pk", "status")) == bookings
    assert sorted(status for _, status in bookings) == ["completed", "paid"]
    ada = User.objects.get(email="ada@demo.test")
    assert tutor_earnings(tutor_id=ada.pk).balance == 5100
    assert ada.connected_account.status == "verified"
    assert Session.objects.filter(booking__tutor=ada, status="created").count() == 1
    roles = sorted(role for _, _, role in first)
    assert roles == sorted([Role.STAFF, Role.TUTOR, Role.TUTOR, Role.STUDENT, Role.STUDENT])
    assert TutorProfile.objects.filter(hourly_rate__gt=0).count() == 2
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out
    for email in User.objects.values_list("email", flat=True):
        assert email in out
        response = api.post("/api/auth/token", {"email": email, "password": DEMO_PASSWORD})
        assert set(data(response)) == {"access", "refresh"}
    staff = User.objects.get(role=Role.STAFF)
    assert staff.is_staff and staff.is_superuser


def test_seed_demo_refuses_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/tutoring/user/", "/admin/tutoring/tutorprofile/", "/admin/tutoring/booking/"]
)
def test_admin_pages_for_staff(client, staff, url):
    BookingFactory()
    client.force_login(staff)
    assert client.get(url).status_code == 200


def test_admin_booking_detail_is_read_only(client, staff):
    booking = BookingFactory()
    client.force_login(staff)
    page = client.get(f"/admin/tutoring/booking/{booking.pk}/change/").content.decode()
    assert 'name="price"' not in page and 'name="status"' not in page


def test_admin_refuses_non_staff(client, student):
    client.force_login(student)
    response = client.get("/admin/tutoring/booking/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
