import pytest

from tutoring.models import TutorProfile
from tutoring.tests.factories import TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db


def test_list_shape_newest_first_and_subject_filter(client_for, student):
    older = TutorFactory(profile__subjects=["Mathematics", "Physics"], profile__hourly_rate=4500)
    newer = TutorFactory(profile__subjects=["French"], profile__hourly_rate=3000)
    TutorProfile.objects.filter(user=older).update(created_at=newer.tutor_profile.created_at.replace(year=2020))
    client = client_for(student)

    page = data(client.get("/api/tutors"))
    assert page["next"] is None
    assert [t["id"] for t in page["tutors"]] == [str(newer.pk), str(older.pk)]
    assert page["tutors"][1] == {
        "id": str(older.pk),
        "name": older.name,
        "hourlyRate": 4500,
        "currency": "usd",
        "subjects": ["Mathematics", "Physics"],
        "bio": "",
        "rating": None,
        "reviewsCount": 0,
    }

    only_physics = data(client.get("/api/tutors", {"subject": "physics"}))
    assert [t["id"] for t in only_physics["tutors"]] == [str(older.pk)]
    assert data(client.get("/api/tutors", {"subject": "Chemistry"}))["tutors"] == []


def test_cursor_pagination_walks_every_tutor_once(client_for, student):
    ids = {str(TutorFactory().pk) for _ in range(7)}
    client = client_for(student)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = data(client.get("/api/tutors", params))
        assert len(page["tutors"]) <= 3
        seen += [t["id"] for t in page["tutors"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(ids) and set(seen) == ids


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "ten"}, {"cursor": "%%%"}, {"cursor": "bm9wZQ"}])
def test_bad_page_params_are_400(client_for, student, params):
    TutorFactory()
    assert_error(client_for(student).get("/api/tutors", params), 400, "/api/tutors", "GET")


def test_limit_is_capped_at_100(client_for, student):
    for _ in range(3):
        TutorFactory()
    assert len(data(client_for(student).get("/api/tutors", {"limit": 1000}))["tutors"]) == 3


def test_tutors_need_auth(api):
    assert_error(api.get("/api/tutors"), 401, "/api/tutors", "GET")


def test_detail_and_404(client_for, student, tutor):
    client = client_for(student)
    assert data(client.get(f"/api/tutors/{tutor.pk}"))["id"] == str(tutor.pk)
    assert_error(client.get(f"/api/tutors/{student.pk}"), 404)
    assert_error(client.get("/api/tutors/00000000-0000-0000-0000-000000000000"), 404)
    assert_error(client.get("/api/tutors/not-a-uuid"), 404, "/api/tutors/not-a-uuid", "GET")


class TestPatchMe:
    def test_partial_update(self, client_for, tutor):
        client = client_for(tutor)
        body = data(client.patch("/api/tutors/me", {"hourlyRate": 7250, "subjects": ["Chess", "chess", "Go"]}))
        assert body["hourlyRate"] == 7250
        assert body["subjects"] == ["Chess", "Go"]
        assert body["currency"] == "usd"
        body = data(client.patch("/api/tutors/me", {"currency": "EUR", "bio": "Hello"}))
        assert (body["currency"], body["bio"], body["hourlyRate"], body["subjects"]) == (
            "eur",
            "Hello",
            7250,
            ["Chess", "Go"],
        )

    @pytest.mark.parametrize(
        "payload,field",
        [
            ({"hourlyRate": -5}, "hourlyRate"),
            ({"hourlyRate": 12.5}, "hourlyRate"),
            ({"currency": "dollars"}, "currency"),
            ({"subjects": "Math"}, "subjects"),
            ({"subjects": [""]}, "subjects"),
            ({"bio": "x" * 5001}, "bio"),
        ],
    )
    def test_invalid_changes_nothing(self, client_for, tutor, payload, field):
        before = data(client_for(tutor).get(f"/api/tutors/{tutor.pk}"))
        body = assert_error(client_for(tutor).patch("/api/tutors/me", payload, format="json"), 400, "/api/tutors/me")
        assert field in body["errors"]
        assert data(client_for(tutor).get(f"/api/tutors/{tutor.pk}")) == before

    def test_students_and_staff_are_403(self, client_for, student, staff):
        assert_error(client_for(student).patch("/api/tutors/me", {"bio": "x"}), 403, "/api/tutors/me", "PATCH")
        assert_error(client_for(staff).patch("/api/tutors/me", {"bio": "x"}), 403)
