"""Batch checking rate: one process against the local process pool, on the same batch.

The batch is the bundled SyGuS problems (problems/sygus) with their reference solutions and
mutants of them (a constant moved by one, a comparison or an operator swapped), so it holds
verified and rejected candidates in the mix a training round produces, repeated up to --size.

    .venv/bin/python benchmarks/batch_check.py [--size 400] [--workers 2] [--repeat 3]

Prints `batch_check: single=... checks/s pool=... checks/s speedup=...x` (target: >= 1.7x on
2 cores). Both sides are warm, as in the rounds of a run: the batch is first checked once in a
new pool (its time is printed as cold_pool_s; check_batch keeps the pool and its loaded problems
for the next batch) and once in this process, untimed; then the two sides are timed in turn,
--repeat times, and each side's best time counts (the machine may be shared).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWAPS = [(">=", ">"), ("<=", "<"), ("(+ ", "(- "), ("(- ", "(+ "), ("(> ", "(< "), ("(and ", "(or ")]


def mutants(reference: str, limit: int) -> list[str]:
    """Up to `limit` small edits of a reference solution (most of them wrong)."""
    out = []
    head, sep, body = reference.partition(")) ")  # keep the signature intact, edit the body
    if not sep:
        head, body = "", reference
    for m in re.finditer(r"(?<![\w.])(\d+)(?![\w.])", body):
        out.append(head + sep + body[: m.start()] + str(int(m.group()) + 1) + body[m.end() :])
    for old, new in SWAPS:
        i = body.find(old)
        if i >= 0:
            out.append(head + sep + body[:i] + new + body[i + len(old) :])
    return out[:limit]


def build_batch(size: int, per_problem: int) -> list:
    """(problem, candidate) pairs from the bundled problems, cycled up to `size`."""
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    problems = [p for p in prover.load(REPO / "problems" / "sygus") if p.reference]
    items = []
    for problem in problems:
        items.append((problem, problem.reference))
        items += [(problem, m) for m in mutants(problem.reference, per_problem)]
    if not items:
        raise SystemExit("batch_check: no bundled problem has a reference solution")
    return [items[i % len(items)] for i in range(max(size, 1))]


def cpu_seconds() -> float:
    """CPU time of this process and all its descendants (the fork server and the pool workers)."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def timed(items, limits, workers: int) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds (workers included) and verdicts of one batch."""
    from proofloop.executors import check_batch

    cpu = cpu_seconds()
    started = time.perf_counter()
    verdicts = check_batch(items, limits, workers=workers)
    return time.perf_counter() - started, cpu_seconds() - cpu, verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=400, help="Checks in the batch.")
    ap.add_argument("--per-problem", type=int, default=4, help="Mutants per reference solution.")
    ap.add_argument("--workers", type=int, default=2, help="Pool size to compare with one process.")
    ap.add_argument("--timeout", type=float, default=10.0, help="Solver timeout per check, seconds.")
    ap.add_argument("--repeat", type=int, default=3, help="Timed runs per side, alternating; the best counts.")
    args = ap.parse_args(argv)
    from proofloop.executors import close_pool
    from proofloop.types import CheckLimits

    limits = CheckLimits(timeout_s=args.timeout)
    items = build_batch(args.size, args.per_problem)
    close_pool()
    cold_s, _, _ = timed(items, limits, args.workers)  # starts the pool, which is kept, warm
    timed(items, limits, 1)  # warm-up of this process: every problem loaded once
    single_s = pool_s = single_cpu = pool_cpu = float("inf")
    for _ in range(args.repeat):  # alternate, so that a burst of other work hits both sides
        seconds, cpu, single = timed(items, limits, 1)
        single_s, single_cpu = min(single_s, seconds), min(single_cpu, cpu)
        seconds, cpu, pooled = timed(items, limits, args.workers)
        pool_s, pool_cpu = min(pool_s, seconds), min(pool_cpu, cpu)
    mismatched = sum(a.status != b.status for a, b in zip(single, pooled))
    statuses = collections.Counter(v.status.value for v in single)
    print(
        f"batch: checks={len(items)} " + " ".join(f"{k}={n}" for k, n in sorted(statuses.items()))
        + f" single_s={single_s:.3f} pool_s={pool_s:.3f} cold_pool_s={cold_s:.3f} workers={args.workers}"
        + f" status_mismatches={mismatched}"
    )
    # What the pool costs in CPU against one process: on an idle machine the wall-clock speedup
    # approaches workers * single_cpu / pool_cpu; on a busy one the wall clock says less.
    print(
        f"cpu: single_cpu_s={single_cpu:.3f} pool_cpu_s={pool_cpu:.3f} "
        f"idle_machine_estimate={args.workers * single_cpu / pool_cpu:.2f}x "
        f"load_average={os.getloadavg()[0]:.2f}"
    )
    print(
        f"batch_check: single={len(items) / single_s:.1f} checks/s pool={len(items) / pool_s:.1f} checks/s "
        f"speedup={single_s / pool_s:.2f}x"
    )
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
