"""How long the chat writer's thread takes to store a batch while the event loop's thread is busy, at
Python's default GIL switch interval and at the one the realtime process uses.

The writer's thread lets go of the GIL at every socket call (the chat limit in Redis, the INSERT in
PostgreSQL); to go on it must get the GIL back from the event loop, which, while busy, lets go only every
switch interval. A busy thread of pure-Python work stands in for the loop.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/writer_convoy.py [--batches 100] [--size 5]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_bench import seed, setup_django


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(2000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=5, help="messages per batch")
    args = parser.parse_args()
    setup_django()
    from live.models import Session
    from live.realtime.process import SWITCH_INTERVAL_SECONDS
    from live.realtime.writer import _store

    (room,) = seed(1)
    session = Session.objects.select_related("booking__student").get(pk=room["sessionId"])
    batch = [(session.booking.student, room["sessionId"], "hello")] * args.size

    def measure(label: str) -> None:
        times = []
        for _ in range(args.batches):
            start = time.perf_counter()
            _store(batch)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p50, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
        print(f"{label:44} p50 {p50:6.2f} ms   p90 {p90:6.2f} ms   max {times[-1]:6.2f} ms", flush=True)

    default = sys.getswitchinterval()
    print(f"storing batches of {args.size} chat messages ({args.batches} each)")
    measure(f"loop idle, switch interval {default * 1000:g} ms")
    for interval in (default, SWITCH_INTERVAL_SECONDS):
        sys.setswitchinterval(interval)
        stop = threading.Event()
        loop = threading.Thread(target=busy, args=(stop,))
        loop.start()
        try:
            measure(f"loop busy, switch interval {interval * 1000:g} ms")
        finally:
            stop.set()
            loop.join()


if __name__ == "__main__":
    main()
