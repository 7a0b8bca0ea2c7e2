"""The PostgreSQL backend's per-request connection check (tutoring/db/postgresql/base.py): no round trip
for a connection that is fine, and a connection the server dropped is replaced before it is used."""

import time

import pytest
from django.db import connections

from tutoring.db.postgresql.base import socket_alive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches the socket


@pytest.fixture
def wrapper():
    wrapper = connections.create_connection("default")
    wrapper.settings_dict["CONN_HEALTH_CHECKS"] = True
    wrapper.connect()
    yield wrapper
    wrapper.close()


def new_request(wrapper) -> None:
    wrapper.close_if_unusable_or_obsolete()  # what Django does when a request starts


def last_query(pid: int) -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_a_live_idle_connection_is_kept_without_asking_the_server(wrapper):
    pid = backend_pid(wrapper)
    new_request(wrapper)
    wrapper.close_if_health_check_failed()  # what Django does before the request's first query
    assert wrapper.health_check_done
    assert last_query(pid) == "SELECT pg_backend_pid()"  # no SELECT 1 went to the server
    assert backend_pid(wrapper) == pid  # and the connection was kept


def test_a_connection_the_server_dropped_is_replaced_at_the_next_request(wrapper):
    pid = backend_pid(wrapper)
    terminate(pid)
    assert not socket_alive(wrapper.connection)
    new_request(wrapper)
    assert backend_pid(wrapper) != pid  # no error: a new connection answered


def test_a_connection_inside_a_transaction_is_not_idle(wrapper):
    wrapper.connection.execute("BEGIN")
    assert not socket_alive(wrapper.connection)
    wrapper.connection.execute("ROLLBACK")
    assert socket_alive(wrapper.connection)


def test_a_closed_connection_is_not_alive(wrapper):
    wrapper.connection.close()
    assert not socket_alive(wrapper.connection)


# --- prepared statements (tutoring.db.prepared_cursor) ---------------------------------------------------------


def prepared_statements(wrapper) -> list[tuple[str, int]]:
    """The statements prepared on `wrapper`'s connection, with how many times each has run."""
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return cursor.fetchall()


def test_the_participants_read_is_prepared_once_and_then_reused(client_for):
    from live.tests.factories import SessionFactory

    session = SessionFactory()
    url = f"/api/live/sessions/{session.pk}/participants"
    for user in (session.booking.student, session.booking.tutor, session.booking.student):
        assert client_for(user).get(url).status_code == 200
    statements = prepared_statements(connections["default"])
    assert [runs for statement, runs in statements if "live_participant" in statement] == [3]


def test_without_prepared_statements_the_same_cursor_runs_unprepared(wrapper):
    wrapper.close()
    wrapper.settings_dict["OPTIONS"] = {**wrapper.settings_dict["OPTIONS"], "prepare_threshold": None}
    with wrapper.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
    assert prepared_statements(wrapper) == []
    wrapper.settings_dict["OPTIONS"]["prepare_threshold"] = 5  # the setting's default
    wrapper.close()
    with wrapper.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
    assert prepared_statements(wrapper) == [("SELECT $1::int + 1", 1)]


def test_django_own_queries_are_never_prepared(wrapper):
    for _ in range(10):  # past any threshold
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT %s::int", [1])
    assert prepared_statements(wrapper) == []
