"""What healing a dead realtime process's presence costs the survivor that sweeps it.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/sweep_cost.py [--connections 4000]

A process that dies (kill -9, a lost machine) leaves its connections recorded; once they expire, the
next heartbeat of any surviving process deletes them, records each party's leaving and turns their
`isConnected` off, with the events broadcast (`live.services.connections_sweep`). That runs on the
survivor's database thread, beside its event loop and sharing its GIL: its CPU time is what the
survivor's own connections wait behind. Seeds one classroom per two connections, both parties
connected through a process that then "died", and times one sweep: wall time, CPU time of this
process, statements.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from chat_bench import seed, setup_django  # noqa: E402  (bench/ on the path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=4000, help="the dead process's connections")
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from live import services
    from live.models import Connection, Participant, Presence

    rooms = seed(max(1, args.connections // 2))
    sessions = [room["sessionId"] for room in rooms]
    participants = list(Participant.objects.filter(session_id__in=sessions).values_list("session_id", "user_id"))
    dead, expired = uuid.uuid4(), timezone.now() - timedelta(minutes=5)
    connections = Connection.objects.bulk_create(
        Connection(user_id=user_id, process_id=dead, expires_at=expired) for _, user_id in participants
    )
    Presence.objects.bulk_create(
        Presence(connection=c, session_id=session_id)
        for c, (session_id, _) in zip(connections, participants, strict=True)
    )
    Participant.objects.filter(session_id__in=sessions).update(is_connected=True)
    print(f"{len(connections)} connections of a dead process, in {len(sessions)} classrooms")

    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        swept = services.connections_sweep()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    still = Participant.objects.filter(session_id__in=sessions, is_connected=True).count()
    print(f"swept {swept} connections: {wall:.2f} s, {cpu:.2f} s of CPU here, {len(queries)} statements")
    print(f"per connection: {1000 * cpu / max(swept, 1):.3f} ms of CPU; participants still connected: {still}")


if __name__ == "__main__":
    main()
