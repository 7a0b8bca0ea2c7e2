"""Tutor search (docs/marketplace.md "Search"): words over name, subjects and bio (PostgreSQL full text,
ranked; a plain match on SQLite), rate filters, the sorts, and cursor pages that stay right in every
order."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tutoring.models import TutorProfile, TutorSubject, User
from tutoring.tests.factories import TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

TUTORS = "/api/tutors"


def ids(client, **params) -> list[str]:
    return [t["id"] for t in data(client.get(TUTORS, params))["tutors"]]


def walk(client, **params) -> list[str]:
    """Every tutor of a list, page by page (2 a page)."""
    seen, cursor = [], None
    while True:
        page = data(client.get(TUTORS, {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}))
        seen += [t["id"] for t in page["tutors"]]
        cursor = page["next"]
        if cursor is None:
            return seen


def tutor(name="Tutor", subjects=("Mathematics",), bio="", rate=6000, rating=None, reviews=0, age_days=0):
    user = TutorFactory(name=name, profile__subjects=list(subjects), profile__hourly_rate=rate)
    TutorProfile.objects.filter(user=user).update(
        bio=bio,
        rating=None if rating is None else Decimal(rating),
        reviews_count=reviews,
        created_at=timezone.now() - timedelta(days=age_days),
    )
    return str(user.pk)


@pytest.fixture
def client(client_for, student):
    return client_for(student)


class TestFiltersAndSorts:
    def test_rate_range(self, client):
        cheap, middle, dear = tutor(rate=2000), tutor(rate=4000), tutor(rate=9000)
        tutor(rate=None)
        assert set(ids(client, minRate=3000)) == {middle, dear}
        assert set(ids(client, maxRate=4000)) == {cheap, middle}
        assert ids(client, minRate=4000, maxRate=4000) == [middle]

    def test_every_sort_pages_through_every_tutor_once_in_order(self, client):
        # Ties on price and rating, and tutors without either, so the tie-break and nulls are exercised.
        a = tutor(rate=3000, rating="4.5", reviews=2, age_days=5)
        b = tutor(rate=3000, rating="4.5", reviews=9, age_days=4)
        c = tutor(rate=5000, rating="3.0", reviews=1, age_days=3)
        d = tutor(rate=None, rating=None, age_days=2)
        e = tutor(rate=1000, rating="5.0", reviews=1, age_days=1)
        f = tutor(rate=5000, rating=None, age_days=0)
        expected = {
            "newest": [f, e, d, c, b, a],
            "price": [e, b, a, f, c, d],
            "-price": [f, c, b, a, e, d],
            "rating": [e, b, a, c, f, d],
        }
        for sort, order in expected.items():
            assert ids(client, sort=sort) == order, sort
            assert walk(client, sort=sort) == order, sort
        assert walk(client) == expected["newest"]

    def test_a_cursor_only_fits_its_own_order(self, client):
        for _ in range(3):
            tutor()
        cursor = data(client.get(TUTORS, {"limit": 1, "sort": "price"}))["next"]
        body = assert_error(client.get(TUTORS, {"limit": 1, "sort": "rating", "cursor": cursor}), 400, TUTORS, "GET")
        assert "cursor" in body["errors"]
        assert data(client.get(TUTORS, {"limit": 1, "sort": "price", "cursor": cursor}))["tutors"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"sort": "cheapest"}, "sort"),
            ({"minRate": "ten"}, "minRate"),
            ({"minRate": -1}, "minRate"),
            ({"minRate": 500, "maxRate": 400}, "maxRate"),
            ({"q": "x" * 201}, "q"),
        ],
    )
    def test_bad_parameters_are_400(self, client, params, field):
        assert field in assert_error(client.get(TUTORS, params), 400, TUTORS, "GET")["errors"]


class TestWords:
    """On either database: every word must appear in the name, a subject or the bio."""

    def test_words_match_name_subjects_and_bio_case_insensitively(self, client):
        by_name = tutor(name="Clara Schumann", subjects=["Piano"])
        by_subject = tutor(name="Ana Lima", subjects=["Organic Chemistry"])
        by_bio = tutor(name="Li Wei", subjects=["Physics"], bio="I love teaching chemistry to beginners.")
        tutor(name="Bo Chen", subjects=["History"])
        assert set(ids(client, q="CHEMISTRY")) == {by_subject, by_bio}
        assert ids(client, q="schumann piano") == [by_name]
        assert ids(client, q="schumann history") == []
        assert set(ids(client, q="chemistry", subject="physics")) == {by_bio}


@pytest.mark.postgres
class TestFullText:
    def test_ranked_name_then_subjects_then_bio(self, client):
        in_bio = tutor(name="Ana Lima", subjects=["Piano"], bio="My teacher played Chopin every day.", age_days=0)
        in_subjects = tutor(name="Li Wei", subjects=["Chopin études"], age_days=1)
        in_name = tutor(name="Frederic Chopin", subjects=["Piano"], age_days=2)
        assert ids(client, q="chopin") == [in_name, in_subjects, in_bio]
        # An explicit sort wins over relevance; pages of a ranked list are whole too.
        assert ids(client, q="chopin", sort="newest") == [in_bio, in_subjects, in_name]
        assert walk(client, q="chopin") == [in_name, in_subjects, in_bio]

    def test_stems_and_word_beginnings(self, client):
        maths = tutor(name="Ana Lima", subjects=["Mathematics"], bio="Teaching calculus since 2010.")
        assert ids(client, q="math") == [maths]
        assert ids(client, q="taught calc") == []  # "taught" shares no stem with "teaching"
        assert ids(client, q="teaches calc") == [maths]
        assert ids(client, q="mathematic's & | ! (") == [maths]  # search syntax in the box is just words

    def test_the_database_keeps_the_vector_whatever_writes(self, client, client_for):
        user_id = tutor(name="Ana Lima", subjects=["Piano"])
        tutor_user = User.objects.get(pk=user_id)
        data(client_for(tutor_user).patch("/api/tutors/me", {"subjects": ["Violin"], "bio": "Baroque music."}))
        assert ids(client, q="violin baroque") == [user_id]
        assert ids(client, q="piano") == []
        tutor_user.name = "Ana Scarlatti"
        tutor_user.save()  # as the admin saves it
        assert ids(client, q="scarlatti") == [user_id]
        TutorSubject.objects.filter(tutor_id=user_id).update(name="Harpsichord")
        assert ids(client, q="harpsichord") == [user_id]
