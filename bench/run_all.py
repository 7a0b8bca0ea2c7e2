"""Every benchmark of issue 13 in one run, side by side, into bench/report/REPORT.md (+ latency.png).

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/run_all.py [--seconds 20] [--quick]
    (or `make bench`)

In one run, with the same load generator (bench/chat_load.js) for both sides:

- chat at 400 msg/s (50 classrooms × 2 users × 4 msg/s): the Node socket.io + Redis adapter relay
  (bench/baseline_server.js) against our realtime process under daphne and under uvicorn (uvloop,
  httptools, websockets), every message of ours stored before it is sent; on PostgreSQL also the
  same relay storing each message before it sends it (one prepared INSERT, committed), which tells
  what that rule costs from what the rest of our stack does; the setup of those 100
  connections (connect, websocket upgrade, join) is timed in the same runs. Each server first gets
  --warmup seconds (3) of the same load on classrooms of its own, not measured (V8's compiler for
  Node; first-use work such as preparing statements for ours);
- capacity: one daphne at 1,500 stored msg/s (150 classrooms × 5 msg/s), then one and two daphne
  processes with the offered rate raised step by step (--steps, 10 s each) until a step loses a
  message or its p99 passes 100 ms, then the gap to the last step passed halved (--refine): the
  highest step passed is what each sustains. In the steps each daphne is held to --process-cores of
  a core (0.5; a cgroup CPU quota): on a 2-core machine one unheld process at its capacity takes most
  of a core, and a second one would share the other with PostgreSQL, Redis and the load generator,
  which measures the machine rather than how the processes scale;
- 5,000 idle socket.io connections, each joined to a session, on one process (ours, uvicorn, Node): the time
  to set them up and the server's resident memory once they are;
- the REST bench (bench/rest_bench.py --json), when that file exists, as a subprocess.

Benchmarks assert nothing about time: they print figures and write the report. The figures move
between runs on a shared machine; compare the ratios of one run. `--quick` runs everything with tiny
parameters (a smoke test of the script, not a measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from chat_bench import SERVER_ENV, cpu_seconds, run_load, seed, setup_django  # noqa: E402  (bench/ on the path)

from tutoring.tests.servers import command, free_port, running  # noqa: E402

STEP_P99_MS = 100  # a capacity step passes with nothing lost and p99 under this
REFINE_GRAIN = 50  # msg/s: the refining steps' offered rates are multiples of this (and of a classroom's 10)
PERCENTILES = ["50", "75", "90", "95", "99", "99.9", "100"]


def passes(step: dict) -> bool:
    return not step["lost"] and step["p99"] is not None and step["p99"] <= STEP_P99_MS


def server_cmd(kind: str, port: int) -> list[str]:
    if kind == "daphne":
        return command("daphne", port)
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "tutoring.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if kind in ("node", "node-store"):
        return ["node", str(BENCH / "baseline_server.js")]
    raise ValueError(kind)


@contextlib.contextmanager
def servers(kind: str, count: int = 1, *, cores: float | None = None) -> Iterator[list]:
    """`count` processes of `kind` (daphne, uvicorn, node), each on its own port and, with `cores`, held
    to that much CPU each; yields them running."""
    try:
        with contextlib.ExitStack() as stack:
            started = []
            for _ in range(count):
                port = free_port()
                env = {**SERVER_ENV, "PORT": str(port)}
                if kind == "node-store":
                    env["STORE_DATABASE_URL"] = os.environ["DATABASE_URL"]
                cwd = BENCH if kind.startswith("node") else ROOT
                server = stack.enter_context(
                    running(server_cmd(kind, port), base=f"http://127.0.0.1:{port}", env=env, cwd=cwd, timeout=60)
                )
                if cores:
                    stack.enter_context(cpu_budget(server.proc.pid, cores))
                started.append(server)
            yield started
    finally:
        if not kind.startswith("node"):
            drop_leftover_connections()


def drop_leftover_connections() -> None:
    """Settle the connections a stopped server left recorded: uvicorn runs no shutdown hook, and daphne's
    may run out of time with 5,000 of them. Left there, the next run's server would sweep them at its
    first heartbeat (as a survivor sweeps a dead process's) in the middle of that run's measurement."""
    from live import services
    from live.models import Connection

    for process_id in set(Connection.objects.values_list("process_id", flat=True)):
        services.connections_end_process(process_id=process_id)


CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


def cpu_budget_unavailable() -> str | None:
    """Why a process cannot be held to part of a core here (None: it can): a cgroup of our own with a
    CPU quota, v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us`), needs write access to the hierarchy."""
    if (CGROUP_V2 / "cgroup.controllers").exists():
        if "cpu" not in (CGROUP_V2 / "cgroup.subtree_control").read_text().split():
            return "cgroup v2 without the cpu controller enabled for children"
        return None if os.access(CGROUP_V2, os.W_OK) else "no write access to /sys/fs/cgroup"
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        return None if os.access(CGROUP_V1_CPU, os.W_OK) else "no write access to /sys/fs/cgroup/cpu"
    return "no cgroup CPU controller"


@contextlib.contextmanager
def cpu_budget(pid: int, cores: float) -> Iterator[None]:
    """Hold process `pid` (all its threads) to `cores` of CPU time until the block ends."""
    period = 100_000  # µs
    quota = max(1000, round(cores * period))
    v2 = (CGROUP_V2 / "cgroup.controllers").exists()
    group = (CGROUP_V2 if v2 else CGROUP_V1_CPU) / f"tutoring-bench-{pid}"
    group.mkdir()
    try:
        if v2:
            (group / "cpu.max").write_text(f"{quota} {period}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        # The process has usually exited by now; if not, it goes back to the root group first.
        with contextlib.suppress(OSError):
            (group.parent / "cgroup.procs").write_text(str(pid))
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def stored(rooms: list[dict], kind: str = "daphne") -> int | None:
    """How many of the run's messages the server stored (None: it stores nothing)."""
    from django.db import connection

    from live.models import Message

    ids = [r["sessionId"] for r in rooms]
    if kind == "node":
        return None
    if kind == "node-store":  # baseline_server.js's own table
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_relay_message WHERE session_id = ANY(%s)", [ids])
            return cursor.fetchone()[0]
    return Message.objects.filter(session_id__in=ids).count()


def attempt(run, name: str, kind: str, **kwargs) -> dict | None:
    """One run; a run that fails (the load generator gave up, a server died) is reported, not fatal."""
    try:
        return run(name, kind, **kwargs)
    except Exception as exc:
        print(f"    {name} failed: {str(exc).strip()[-2000:]}", flush=True)
        FAILED.append(f"{name}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}")
        return None


FAILED: list[str] = []


def chat(
    name: str,
    kind: str,
    *,
    classrooms: int,
    rate: float,
    seconds: float,
    processes: int = 1,
    cores: float | None = None,
    warmup: float = 0,
) -> dict:
    rooms = seed(classrooms)
    held = f", each held to {cores:g} of a core" if cores else ""
    print(f"  {name}: {classrooms} classrooms × 2 users × {rate:g} msg/s, {processes} {kind}{held}", flush=True)
    with servers(kind, processes, cores=cores) as procs:
        if warmup:  # the same load on classrooms of its own first, not measured: a steady state for either side
            run_load([p.base for p in procs], seed(classrooms), rate, warmup)
        cpu = sum(cpu_seconds(Path(f"/proc/{p.proc.pid}/stat")) for p in procs)
        result = run_load([p.base for p in procs], rooms, rate, seconds)
        cpu = sum(cpu_seconds(Path(f"/proc/{p.proc.pid}/stat")) for p in procs) - cpu
        result["rss_mb"] = [rss_mb(p.proc.pid) for p in procs]
    # CPU per message moves less with the machine's other load than latency does.
    result["cpu_ms_per_msg"] = round(1000 * cpu / result["sent"], 3) if result["sent"] else None
    result.update(name=name, server=kind, processes=processes, offered=round(classrooms * 2 * rate), cores=cores)
    result["stored"] = stored(rooms, kind)
    print(f"    {summary(result)}", flush=True)
    return result


def idle(name: str, kind: str, *, classrooms: int, batch: int) -> dict:
    """Connect and join 2 × `classrooms` sockets, then read the server's RSS while they sit idle."""
    rooms = seed(classrooms)
    print(f"  {name}: {2 * classrooms} idle connections, one {kind}", flush=True)
    with servers(kind) as (proc,), tempfile.NamedTemporaryFile("w", suffix=".json") as config:
        json.dump({"urls": [proc.base], "mode": "idle", "connectBatch": batch, "classrooms": rooms}, config)
        config.flush()
        before = rss_mb(proc.proc.pid)
        load = subprocess.Popen(
            ["node", str(BENCH / "chat_load.js"), config.name],
            cwd=BENCH,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = load.stdout.readline()
            if not line.startswith("READY "):
                raise RuntimeError(f"the load generator failed: {line}{load.stdout.read()}")
            result = json.loads(line[len("READY ") :])
            time.sleep(3)  # let the last joins' work settle before reading memory
            result.update(name=name, server=kind, rss_before_mb=before, rss_mb=rss_mb(proc.proc.pid))
        finally:
            load.stdin.close()
            load.wait(timeout=120)
    print(f"    setup {result['setupMs'] / 1000:.1f} s, RSS {before} → {result['rss_mb']} MB", flush=True)
    return result


def rest(path: Path) -> dict | None:
    script = BENCH / "rest_bench.py"
    if not script.exists():
        return None
    print("  REST: bench/rest_bench.py", flush=True)
    done = subprocess.run([sys.executable, str(script), "--json", str(path)], cwd=ROOT, text=True)
    if done.returncode != 0 or not path.exists():
        return {"error": f"bench/rest_bench.py exited with {done.returncode}"}
    return json.loads(path.read_text())


def summary(r: dict) -> str:
    return (
        f"sent {r['sent']} received {r['received']} lost {r['lost']} errors {r['errors']} stored {r['stored']} "
        f"setup {r['setupMs']} ms, p50 {r['p50']} p99 {r['p99']} max {r['max']} ms, {r['throughput']} msg/s, "
        f"server CPU {r['cpu_ms_per_msg']} ms/msg"
    )


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in runs:
        values = [r["percentiles"].get(p) for p in PERCENTILES]
        ax.plot(PERCENTILES, [v if v is not None else math.nan for v in values], marker="o", label=r["name"])
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("send → receipt at the other user (ms, log scale)")
    ax.set_title("Chat latency percentiles")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def at_least(found: dict) -> str:
    """What goes before a capacity no step failed above (the steps ended first): it is a lower bound."""
    return "≥ " if found.get("at_least") else ""


def report(results: dict, out: Path) -> str:
    chats: list[dict] = results["chat"]
    by = {r["name"]: r for r in chats}
    node, daphne, uvi = by.get("node 400"), by.get("daphne 400"), by.get("uvicorn 400")
    node_store = by.get("node+store 400")
    cap1 = by.get("daphne 1500")
    capacity = results["capacity"]
    lines = [
        "# Benchmark report",
        "",
        f"Run {results['started']} on {results['machine']}; database {results['database']}, "
        f"channel layer {results['layer']}. Command: `{results['command']}`.",
        "",
        "Figures move between runs on a shared machine: compare the ratios of this one run.",
        "",
        "## Chat (send → receipt at the other participant)",
        "",
        "| run | server | offered msg/s | sent | received | lost | errors | stored | setup ms | p50 | p90 | p99 "
        "| max | delivered msg/s | server CPU ms/msg | server RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in chats:
        lines.append(
            f"| {r['name']} | {r['processes']} {r['server']} | {r['offered']} | {r['sent']} | {r['received']} "
            f"| {r['lost']} | {r['errors']} | {'–' if r['stored'] is None else r['stored']} | {r['setupMs']} "
            f"| {r['p50']} | {r['p90']} | {r['p99']} | {r['max']} | {r['throughput']} | {r['cpu_ms_per_msg']} "
            f"| {', '.join(str(m) for m in r['rss_mb'])} |"
        )
    if capacity and results.get("unheld"):
        lines += ["", f"Capacity steps not held to part of a core: {results['unheld']}."]
    for processes, found in capacity.items():
        held = f", each held to {found['cores']:g} of a core" if found.get("cores") else ""
        lines += [
            "",
            f"Capacity steps, {processes} daphne{held} (capacity: {at_least(found)}{found['capacity']} msg/s):",
            "",
            "| offered msg/s | sent | received | lost | stored | p50 | p99 | delivered msg/s | server CPU ms/msg |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in found["steps"]:
            lines.append(
                f"| {r['offered']} | {r['sent']} | {r['received']} | {r['lost']} | {r['stored']} | {r['p50']} "
                f"| {r['p99']} | {r['throughput']} | {r['cpu_ms_per_msg']} |"
            )
    lines += ["", "![latency percentiles](latency.png)", "", "## Goals (ratios of this run)", ""]
    lines.append("| goal | measured | target |")
    lines.append("|---|---|---|")
    if node and daphne:
        lines.append(
            f"| chat p99 at 400 msg/s, daphne / Node | {ratio(daphne['p99'], node['p99'])} | ≤ 3× (product: 1.5×) |"
        )
        lines.append(
            f"| chat at 400 msg/s: lost, stored of sent (daphne) | {daphne['lost']} lost, "
            f"{daphne['stored']} of {daphne['sent']} | 0 lost, all stored |"
        )
        lines.append(
            f"| setup of {daphne['classrooms'] * 2} connections (connect + join), daphne / Node | "
            f"{ratio(daphne['setupMs'], node['setupMs'])} | ≤ 2× |"
        )
    if node and node_store:
        lines.append(
            f"| chat p99 at 400 msg/s, Node storing each message / Node: what the rule costs | "
            f"{ratio(node_store['p99'], node['p99'])} | (comparison) |"
        )
    if node_store and daphne:
        lines.append(
            f"| chat p99 at 400 msg/s, daphne / Node storing each message: what our stack costs beyond it | "
            f"{ratio(daphne['p99'], node_store['p99'])} | (comparison) |"
        )
    if node and uvi:
        lines.append(f"| chat p99 at 400 msg/s, uvicorn / Node | {ratio(uvi['p99'], node['p99'])} | (comparison) |")
    if daphne and uvi:
        lines.append(
            f"| uvicorn / daphne: p50, p99, setup | {ratio(uvi['p50'], daphne['p50'])}, "
            f"{ratio(uvi['p99'], daphne['p99'])}, {ratio(uvi['setupMs'], daphne['setupMs'])}; CPU per message "
            f"{ratio(uvi['cpu_ms_per_msg'], daphne['cpu_ms_per_msg'])} | (choice of server) |"
        )
    if cap1:
        lines.append(
            f"| one daphne at {cap1['offered']} stored msg/s: p99, lost | {cap1['p99']} ms, {cap1['lost']} lost "
            f"({cap1['throughput']} msg/s delivered) | p99 < 100 ms, 0 lost |"
        )
    if "1" in capacity and "2" in capacity:
        one, two = capacity["1"]["capacity"], capacity["2"]["capacity"]
        cores = capacity["1"].get("cores")
        held = f", each held to {cores:g} of a core" if cores else ""
        lines.append(
            f"| capacity (highest step with nothing lost and p99 ≤ {STEP_P99_MS} ms{held}): 2 daphne / 1 daphne | "
            f"{at_least(capacity['2'])}{two} / {at_least(capacity['1'])}{one} msg/s = {ratio(two, one)} "
            "| ≥ 1.8× |"
        )
    figures = results["rest"] or {}
    if "participants_vs_baseline" in figures:
        lines.append(
            f"| REST participants / bare DRF + simplejwt one-query view (req/s, CPU per request) | "
            f"{figures['participants_vs_baseline']}×, {figures['participants_vs_baseline_cpu']}× | ≥ 0.9× |"
        )
    if "healthz" in figures:
        lines.append(
            f"| /healthz over one connection: p50, p99 | {figures['healthz']['p50_ms']:.2f} ms, "
            f"{figures['healthz']['p99_ms']:.2f} ms | < 10 ms |"
        )
    idles = {r["server"]: r for r in results["idle"]}
    for kind in ("daphne", "uvicorn"):
        if kind in idles:
            ours = idles[kind]
            lines.append(
                f"| {ours['connections']} idle joined connections on one {kind}: RSS | {ours['rss_mb']} MB | < 400 MB |"
            )
    if "daphne" in idles:
        ours = idles["daphne"]
        if "node" in idles:
            lines.append(
                f"| {ours['connections']} idle connections: setup daphne / Node, RSS daphne / Node | "
                f"{ratio(ours['setupMs'], idles['node']['setupMs'])}, {ratio(ours['rss_mb'], idles['node']['rss_mb'])} "
                "| (comparison) |"
            )
    if results["idle"]:
        lines += [
            "",
            "## Idle connections",
            "",
            "| server | connections (each joined) | setup s | RSS before MB | RSS with them MB |",
            "|---|---|---|---|---|",
        ]
        for r in results["idle"]:
            lines.append(
                f"| {r['server']} | {r['connections']} | {r['setupMs'] / 1000:.1f} "
                f"| {r['rss_before_mb']} | {r['rss_mb']} |"
            )
    if results["failed"]:
        lines += ["", "## Runs that failed", ""] + [f"- {failure}" for failure in results["failed"]]
    lines += ["", "## REST", ""]
    if "rest" in results["skipped"]:
        lines.append("Skipped (`--skip rest`).")
    elif results["rest"] is None:
        lines.append("bench/rest_bench.py is not there: not run.")
    else:
        lines += ["From `bench/rest_bench.py --json`:", "", "```json", json.dumps(results["rest"], indent=2), "```"]
    lines += [
        "",
        "## What the runs are",
        "",
        "`chat_load.js` (the official socket.io-client, default transports: polling, then the websocket "
        "upgrade) drives every run; latency is measured from the send to the receipt by the *other* "
        "participant (one Node process holds both ends, so one clock). `setup ms`: connect, upgrade and "
        "join of every connection of the run, one classroom at a time (50 at a time for the idle runs). "
        "`delivered msg/s`: messages "
        "received by the other participant per second from the first send to the last receipt. "
        "`N daphne step R`: the capacity steps (offered R msg/s, 10 s each, until one loses a message or "
        "its p99 passes 100 ms; then the gap between the last passed and the first failed is halved "
        "twice), each daphne held to the CPU the heading says by a cgroup quota, so that one and two "
        "processes are compared while the machine's other core serves PostgreSQL, Redis and the load "
        "generator. `server CPU ms/msg`: the server processes' CPU time during "
        "the run (connections included) per message sent, which moves less with the machine's other load "
        "than latency. Ours: `DJANGO_DEBUG=0`, every message counted against the "
        "chat limit (raised for the run), stored, then published; `lost` = sent − received after up to "
        "30 s of drain. Each chat run (not the capacity steps) is measured after `--warmup` seconds of the "
        "same load on classrooms of its own, on the same server processes.",
        "",
    ]
    text = "\n".join(lines)
    (out / "REPORT.md").write_text(text)
    return text


def capacity_steps(processes: int, args: argparse.Namespace, per_user: float) -> dict:
    """The highest offered rate `processes` daphne sustain (nothing lost, p99 ≤ STEP_P99_MS), and its steps.

    The offered rate goes up --steps until a step fails; then the gap between the last step passed and
    the first failed is halved --refine times, since with steps of 1,000 and 1,500 alone two processes
    read as 1.5× or 2.0× of one and nothing between.
    """
    steps: list[dict] = []

    def run(offered: int) -> bool | None:
        """Whether the step passed; None when it could not run."""
        step = attempt(
            chat,
            f"{processes} daphne step {offered}",
            "daphne",
            classrooms=max(1, round(offered / (2 * per_user))),
            rate=per_user,
            seconds=args.step_seconds,
            processes=processes,
            cores=args.process_cores,
        )
        if step is None:
            return None
        steps.append(step)
        return passes(step)

    low, high, ok = 0, None, None
    for offered in args.steps:
        ok = run(offered)
        if not ok:
            high = offered if ok is False else None
            break
        low = offered
    for _ in range(args.refine if low and high else 0):
        middle = round((low + high) / 2 / REFINE_GRAIN) * REFINE_GRAIN
        if not low < middle < high or (ok := run(middle)) is None:
            break
        low, high = (middle, high) if ok else (low, middle)
    # No step failed: the capacity is at least the last step, not known beyond it.
    return {"capacity": low, "at_least": high is None and ok is True, "steps": steps, "cores": args.process_cores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each chat run")
    parser.add_argument("--classrooms", type=int, default=50, help="classrooms of the 400 msg/s runs")
    parser.add_argument("--rate", type=float, default=4.0, help="messages/s per user of the 400 msg/s runs")
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds of the same load, on classrooms of its own, before each measured chat run (not the steps)",
    )
    parser.add_argument("--capacity-rate", type=int, default=1500, help="offered msg/s of the capacity run")
    parser.add_argument(
        "--steps",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[100, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000, 4000],
        help="offered msg/s of the capacity steps, comma-separated",
    )
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument(
        "--refine", type=int, default=2, help="halvings of the gap between the last step passed and the first failed"
    )
    parser.add_argument(
        "--process-cores",
        type=float,
        default=0.5,
        help="CPU each daphne of the capacity steps is held to (a cgroup quota), so that one and two processes "
        "are compared with the machine's other core left to PostgreSQL, Redis and the load generator; 0: not held",
    )
    parser.add_argument("--idle", type=int, default=5000, help="idle connections (two per classroom)")
    parser.add_argument("--out", type=Path, default=BENCH / "report")
    parser.add_argument("--quick", action="store_true", help="tiny parameters: a smoke test, not a measurement")
    parser.add_argument(
        "--skip", action="append", default=[], choices=["chat", "node", "uvicorn", "capacity", "idle", "rest"]
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.classrooms, args.capacity_rate, args.idle = 2, 2, 40, 20
        args.steps, args.step_seconds, args.warmup = [20, 40], 2, 1
    unheld = None
    if args.process_cores and (why := cpu_budget_unavailable()):
        unheld = f"the capacity steps could not hold a process to {args.process_cores:g} of a core ({why})"
        print(f"{unheld}: not held")
        args.process_cores = 0
    if not (BENCH / "node_modules" / "socket.io-client").is_dir():
        sys.exit("run `npm ci --prefix bench` first (make bench does)")
    setup_django()
    from django.conf import settings

    if not os.environ.get("REDIS_URL"):
        # The Node relay needs Redis, and two processes share nothing without it.
        print("REDIS_URL is not set: the Node runs and the two-process run are skipped")
        args.skip += ["node"]
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
        "command": "bench/run_all.py " + " ".join(sys.argv[1:]),
        "chat": [],
        "capacity": {},
        "idle": [],
        "rest": None,
        "skipped": sorted(set(args.skip)),
        "unheld": unheld,
    }
    common = {"classrooms": args.classrooms, "rate": args.rate, "seconds": args.seconds, "warmup": args.warmup}
    if "chat" not in args.skip:
        print("chat", flush=True)
        if "node" not in args.skip:
            results["chat"].append(attempt(chat, "node 400", "node", **common))
            if results["database"] == "postgresql":
                results["chat"].append(attempt(chat, "node+store 400", "node-store", **common))
        results["chat"].append(attempt(chat, "daphne 400", "daphne", **common))
        if "uvicorn" not in args.skip:
            results["chat"].append(attempt(chat, "uvicorn 400", "uvicorn", **common))
    if "capacity" not in args.skip:
        print("capacity", flush=True)
        per_user = 5.0
        rooms = max(1, round(args.capacity_rate / (2 * per_user)))
        results["chat"].append(
            attempt(
                chat, "daphne 1500", "daphne", classrooms=rooms, rate=per_user, seconds=args.seconds, warmup=args.warmup
            )
        )
        # What one and two processes sustain: the offered rate is raised step by step until a step loses
        # messages or its p99 passes STEP_P99_MS; the last step before is the capacity. Far past
        # saturation a process delivers less, not more, so flooding both would compare collapses.
        for processes in (1, 2):
            if processes > 1 and "node" in args.skip:  # no Redis: no bus between the processes
                continue
            results["capacity"][str(processes)] = capacity_steps(processes, args, per_user)
    if "idle" not in args.skip:
        print("idle connections", flush=True)
        classrooms, batch = max(1, args.idle // 2), 50
        if "node" not in args.skip:
            results["idle"].append(attempt(idle, "node idle", "node", classrooms=classrooms, batch=batch))
        results["idle"].append(attempt(idle, "daphne idle", "daphne", classrooms=classrooms, batch=batch))
        if "uvicorn" not in args.skip:
            results["idle"].append(attempt(idle, "uvicorn idle", "uvicorn", classrooms=classrooms, batch=batch))
    if "rest" not in args.skip:
        results["rest"] = rest(args.out / "rest.json")
    results["chat"] = [r for r in results["chat"] if r]
    results["idle"] = [r for r in results["idle"] if r]
    results["failed"] = FAILED
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    plot([r for r in results["chat"] if r["percentiles"]["50"] is not None], args.out / "latency.png")
    print()
    print(report(results, args.out))
    print(f"written: {args.out / 'REPORT.md'}, {args.out / 'latency.png'}, {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
