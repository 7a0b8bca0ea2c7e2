"""Where one realtime process's time goes under chat load: py-spy samples of its event loop's thread
and of the chat writer's thread, summed by layer, with each thread's CPU time per stored message.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/chat_profile.py \\
        [--classrooms 100] [--rate 5] [--seconds 30] [--sample-seconds 10] [--hz 100]

One daphne (as `chat_bench.py` runs it) is offered classrooms × 2 × rate msg/s by `chat_load.js`. Once
the load has started (after the connections are set up) and run for two seconds, py-spy samples the
process for --sample-seconds while /proc gives each thread's CPU time over the same window; the
messages stored in that window give the CPU per message. Each sample is counted in the layer of its
innermost Python frame (the code that was running, C calls included), so a thread's µs per message
splits into the layers below. py-spy (requirements-bench.txt) needs to be allowed to read the server's
memory (root, or ptrace permitted). It stops the process for each sample: latency during the run is
not a measurement.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from chat_bench import SERVER_ENV, cpu_seconds, seed, setup_django  # noqa: E402  (bench/ on the path)

from tutoring.tests.servers import server_process  # noqa: E402

# The layer of a frame, by the start of the file path py-spy prints (site-packages and the standard
# library are printed relative to their roots). First match wins; anything else is "other".
LAYERS = [
    ("daphne, Twisted, autobahn (HTTP, WebSocket frames, socket I/O)", ("daphne/", "twisted/", "autobahn/", "txaio/")),
    ("engine.io", ("engineio/",)),
    ("socket.io", ("socketio/",)),
    ("Redis: the bus, the chat limit", ("channels_redis/", "redis/", "msgpack/", "channels/")),
    ("asyncio, selectors (the event loop, tasks, futures)", ("asyncio/", "selectors.py", "concurrent/")),
    ("ours (live/, tutoring/)", ("live/", "tutoring/")),
    ("Django", ("django/",)),
    ("psycopg", ("psycopg/", "psycopg_c/")),
    ("json", ("json/",)),
]
OTHER = "other (uuid, threading, contextvars, …)"
# Frames where a thread waits (py-spy cannot always tell): for epoll, for work, for a reply.
WAITING = "waiting"
WAITS = ("EpollSelector.select ", "_worker (concurrent/", "Connection.wait (psycopg/", "_read_from_socket (redis/")
FRAME_PATH = re.compile(r"\(([^():]+):\d+\)$")


def layer(frame: str) -> str:
    if frame.startswith(WAITS):
        return WAITING
    match = FRAME_PATH.search(frame)
    path = match.group(1) if match else frame
    for name, prefixes in LAYERS:
        if path.startswith(prefixes):
            return name
    return OTHER


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each thread of the process, by its native id."""
    cpu: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu[int(task.name)] = cpu_seconds(task / "stat")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return cpu


THREAD = re.compile(r"thread \((\d+)\): (.*)")


def samples_by_thread(raw: Path) -> dict[tuple[int, str], collections.Counter]:
    """py-spy's raw output (`thread (tid): name;frame;…;frame count` per line) → {(tid, name): {layer: n}}."""
    threads: dict[tuple[int, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = THREAD.match(frames[0])
        if thread is None or len(frames) < 2 or not count.isdigit():
            continue
        threads[int(thread.group(1)), thread.group(2)][layer(frames[-1])] += int(count)
    return threads


def stored_between(rooms: list[dict], start: datetime, end: datetime) -> int:
    from live.models import Message

    sessions = [r["sessionId"] for r in rooms]
    return Message.objects.filter(session_id__in=sessions, created_at__gte=start, created_at__lt=end).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classrooms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second per user")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--hz", type=int, default=100, help="py-spy's samples per second")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--raw", type=Path, help="keep py-spy's samples here (its raw format)")
    args = parser.parse_args()
    if args.sample_seconds + 4 > args.seconds:
        sys.exit("--seconds must leave 2 s before and after the sampling")
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install -r requirements-bench.txt")
    setup_django()
    rooms = seed(args.classrooms)
    offered = round(args.classrooms * 2 * args.rate)
    print(f"{args.classrooms} classrooms × 2 users × {args.rate:g} msg/s = {offered} msg/s offered, one daphne")
    config = {
        "rate": args.rate,
        "seconds": args.seconds,
        "drainSeconds": 30,
        "connectBatch": 1,
        "classrooms": rooms,
        "announceLoad": True,
    }
    with server_process("daphne", env=SERVER_ENV, timeout=60) as started, tempfile.TemporaryDirectory() as tmp:
        pid = started.proc.pid
        load = subprocess.Popen(
            ["node", str(BENCH / "chat_load.js")],
            cwd=BENCH,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        load.stdin.write(json.dumps({**config, "urls": [started.base]}))
        load.stdin.close()
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.append(load.stdout.read()), daemon=True)
        reader.start()
        line = load.stderr.readline()
        if line.strip() != "LOAD":
            raise RuntimeError(f"the load generator failed: {line}{load.stderr.read()}")
        time.sleep(2)
        raw = Path(tmp) / "samples.txt"
        before, start = thread_cpu(pid), datetime.now(UTC)
        record = ["record", "--threads", "-f", "raw", "-o", str(raw), "-r", str(args.hz)]
        subprocess.run(
            [spy, *record, "-p", str(pid), "-d", str(round(args.sample_seconds))],
            check=True,
            capture_output=True,
        )
        after, end = thread_cpu(pid), datetime.now(UTC)
        samples = samples_by_thread(raw)
        if args.raw:
            shutil.copyfile(raw, args.raw)
        load.wait(timeout=args.seconds + 300)
        reader.join()
    result = json.loads(output[0]) if output and output[0] else {}
    messages = stored_between(rooms, start, end)
    window = (end - start).total_seconds()
    figures: dict = {
        "offered": offered,
        "window_s": round(window, 1),
        "stored_in_window": messages,
        "lost": result.get("lost"),
        "threads": {},
    }
    print(f"sampled {window:.1f} s: {messages} messages stored ({messages / window:.0f}/s), lost {result.get('lost')}")
    for (tid, thread), counts in sorted(samples.items(), key=lambda item: -sum(item[1].values())):
        cpu = after.get(tid, 0.0) - before.get(tid, 0.0)
        if cpu < 0.05 or not messages:  # an idle thread (py-spy cannot always tell a waiting one)
            continue
        per_message_us = 1e6 * cpu / messages
        waiting = counts.pop(WAITING, 0)
        total = sum(counts.values())
        if not total:
            continue
        shares = {name: n / total for name, n in counts.most_common()}
        figures["threads"][thread] = {
            "cpu_s": round(cpu, 2),
            "busy": round(cpu / window, 3),
            "us_per_message": round(per_message_us, 1),
            "samples": {"running": total, "waiting": waiting},
            "layers_us": {name: round(share * per_message_us, 1) for name, share in shares.items()},
        }
        print(
            f"\n{thread}: {cpu:.2f} s CPU ({100 * cpu / window:.0f}% of a core), {per_message_us:.0f} µs per message; "
            f"samples {total} running, {waiting} waiting"
        )
        for name, share in shares.items():
            print(f"  {100 * share:5.1f}%  {share * per_message_us:6.1f} µs  {name}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
