"""Two versions of the realtime server under one chat load at once: the CPU each spends, side by side.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/cpu_duel.py A_DIR B_DIR \\
        [--classrooms 50] [--rate 4] [--seconds 20] [--rounds 2]

A_DIR and B_DIR are two checkouts of this repository (`git worktree add /tmp/b <commit>`). One daphne
is started from each; `chat_load.js` puts every other classroom on each, so both take the same load
(`--classrooms` each, `--rate` msg/s per user) at the same moments, and the machine's changes of speed
fall on both alike. Runs measured one after the other on a shared machine moved by ±30% here, more
than most single changes are worth; this ratio moved by about 3%. Each round swaps the two ports and
prints B's CPU over A's for the measured run (after a 3 s warm-up of the same load), with the run's
lost count. Latency is not split by server here: use `chat_bench.py` or `run_all.py` for it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from chat_bench import SERVER_ENV, cpu_seconds, run_load, seed, setup_django  # noqa: E402  (bench/ on the path)

from tutoring.tests.servers import command, free_port, running  # noqa: E402


def duel(dirs: dict[str, Path], args: argparse.Namespace) -> dict[str, float]:
    """Run both servers under one load; the CPU seconds each spent in the measured run."""
    with contextlib.ExitStack() as stack:
        started = {}
        for label, cwd in dirs.items():
            port = free_port()
            started[label] = stack.enter_context(
                running(command("daphne", port), base=f"http://127.0.0.1:{port}", env=SERVER_ENV, cwd=cwd, timeout=60)
            )
        urls = [s.base for s in started.values()]
        run_load(urls, seed(2 * args.classrooms), args.rate, 3)  # warm-up, on classrooms of its own
        stats = {label: Path(f"/proc/{s.proc.pid}/stat") for label, s in started.items()}
        before = {label: cpu_seconds(stat) for label, stat in stats.items()}
        result = run_load(urls, seed(2 * args.classrooms), args.rate, args.seconds)
        spent = {label: cpu_seconds(stat) - before[label] for label, stat in stats.items()}
    return {**spent, "lost": result["lost"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--classrooms", type=int, default=50, help="classrooms on each server")
    parser.add_argument("--rate", type=float, default=4.0, help="messages per second per user")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2, help="runs, the servers' order swapped each time")
    args = parser.parse_args()
    setup_django()
    for round_ in range(args.rounds):
        order = {"A": args.a, "B": args.b} if round_ % 2 == 0 else {"B": args.b, "A": args.a}
        spent = duel(order, args)
        print(
            f"round {round_ + 1}: A {spent['A']:.2f} s, B {spent['B']:.2f} s of CPU, "
            f"B/A {spent['B'] / spent['A']:.3f}, lost {spent['lost']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
