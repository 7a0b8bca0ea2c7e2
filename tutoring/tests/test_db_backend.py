"""The PostgreSQL backend's per-request connection check (tutoring/db/postgresql/base.py): no round trip
for a connection that is fine, and a connection the server dropped is replaced before it is used."""

import asyncio
import socket
import time

import psycopg
import pytest
from django.db import connections

from tutoring.db import LoopStatement, _numbered, aconnect
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


# --- LoopStatement (tutoring.db): one statement through libpq on the event loop ----------------------


def on_a_loop_connection(body, **settings):
    """Run `body(conn)` on an `aconnect` connection (with `settings` overriding the database's), then close it."""

    async def run():
        conn = await aconnect()
        for name, value in settings.items():
            setattr(conn, name, value)
        try:
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


async def prepared_on(conn) -> list[tuple[str, int]]:
    cursor = await conn.execute("SELECT name, generic_plans + custom_plans FROM pg_prepared_statements")
    return await cursor.fetchall()


def test_a_loop_statement_is_prepared_once_and_answers_each_row_s_first_column_as_text():
    async def body(conn):
        statement = LoopStatement(conn, "SELECT x::text, 'a' FROM unnest(%s::int[]) x WHERE x > %s", "test_rows")
        answers = [await statement.first_column(["{1,2,3}", str(n)]) for n in (0, 1, 5)]
        return answers, await prepared_on(conn)

    answers, prepared = on_a_loop_connection(body)
    assert answers == [["1", "2", "3"], ["2", "3"], []]
    assert prepared == [("test_rows", 3)]


def test_without_prepared_statements_a_loop_statement_runs_unnamed():
    async def body(conn):
        statement = LoopStatement(conn, "SELECT NULL UNION ALL SELECT %s", "test_unnamed")
        return [await statement.first_column(["é"]) for _ in range(2)], await prepared_on(conn)

    answers, prepared = on_a_loop_connection(body, prepare_threshold=None)
    assert answers == [[None, "é"], [None, "é"]] and prepared == []


def test_a_loop_statement_refused_raises_its_error_and_the_connection_goes_on():
    async def body(conn):
        statement = LoopStatement(conn, "SELECT %s::uuid", "test_refused")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            await statement.first_column(["not a uuid"])
        return statement.broken, await statement.first_column(["5f0c5b6e-8d63-4a53-9d4e-0b3f4c1a7e2d"])

    broken, answer = on_a_loop_connection(body)
    assert not broken and answer == ["5f0c5b6e-8d63-4a53-9d4e-0b3f4c1a7e2d"]


def test_a_loop_statement_cancelled_before_its_answer_leaves_it_broken():
    """Its answer is still on the way: taken for the next statement's, it would answer the wrong one."""

    async def body(conn):
        statement = LoopStatement(conn, "SELECT pg_sleep(%s::float)::text", "test_cancelled")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await statement.first_column(["0.5"])
        assert statement.broken
        with pytest.raises(psycopg.OperationalError):
            await statement.first_column(["0"])

    on_a_loop_connection(body)


def test_a_loop_statement_on_a_connection_the_server_dropped_raises_and_is_broken():
    async def body(conn):
        statement = LoopStatement(conn, "SELECT %s", "test_dropped")
        assert await statement.first_column(["before"]) == ["before"]
        await asyncio.to_thread(terminate, conn.info.backend_pid)
        with pytest.raises(psycopg.OperationalError):
            await statement.first_column(["after"])
        return statement.broken

    assert on_a_loop_connection(body)


def test_a_loop_statement_sends_a_parameter_larger_than_the_socket_takes_at_once(monkeypatch):
    big = "x" * (256 * 1024)
    waits_to_send = []

    async def body(conn):
        sock = socket.socket(fileno=conn.pgconn.socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the kernel takes little at a time
        sock.detach()
        loop = asyncio.get_running_loop()
        add = loop.add_writer
        monkeypatch.setattr(loop, "add_writer", lambda *a: waits_to_send.append(a[0]) or add(*a))
        return await LoopStatement(conn, "SELECT length(%s)::text", "test_big").first_column([big])

    assert on_a_loop_connection(body) == [str(len(big))]
    assert waits_to_send  # it did have to wait for the socket


def test_only_psycopg_placeholders_are_numbered():
    assert _numbered("SELECT %s, %s::int") == "SELECT $1, $2::int"
    with pytest.raises(ValueError):
        _numbered("SELECT 100%% of %s")
