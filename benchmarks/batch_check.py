"""Batch checking rate: one process against the local process pool, on the same batch.

The batch is the bundled SyGuS problems (problems/sygus) with their reference solutions and
mutants of them (a constant moved by one, a comparison or an operator swapped), so it holds
verified and rejected candidates in the mix a training round produces, repeated up to --size.

    .venv/bin/python benchmarks/batch_check.py [--size 400] [--workers 2] [--repeat 3]

Prints `batch_check: single=... checks/s pool=... checks/s speedup=...x` (target: >= 1.7x on
2 cores). `--libraries` also times the same chunks on pebble's ProcessPool and loky's reusable
executor (warm, like the kept pool) and prints `pool_libraries:` lines with their rate against
the hand-written pool (ratio > 1: the library is faster). Both sides are warm, as in the rounds of a run: the batch is first checked once in a
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


def timed(pool, items, limits) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds (workers included) and verdicts of one batch."""
    cpu = cpu_seconds()
    started = time.perf_counter()
    verdicts = pool.check_batch(items, limits)
    return time.perf_counter() - started, cpu_seconds() - cpu, verdicts


def library_chunk(tasks, specs, targets, limits):
    """What a library's worker runs: the same worker side as the hand-written pool's workers."""
    from proofloop.checkwork import in_worker, memory_limit

    side = in_worker()
    side.build_provers(targets)
    with memory_limit(limits.memory_mb):
        return side.check_tasks(tasks, specs, limits)


class LibraryPool:
    """The hand-written pool's chunking and result order on a library's executor: pebble or loky."""

    def __init__(self, library: str, workers: int):
        self.library, self.workers = library, workers
        if library == "pebble":
            import pebble

            self.executor = pebble.ProcessPool(max_workers=workers)
        else:
            import loky

            self.executor = loky.get_reusable_executor(max_workers=workers, timeout=600)

    def check_batch(self, items, limits) -> list:
        from proofloop.checkwork import BatchRun, chunks, hard_deadline_s

        run = BatchRun(items, limits, None)
        futures = []
        for chunk in chunks(list(range(len(items))), self.workers):
            args = (*run.tasks(chunk), run.targets, limits)
            if self.library == "pebble":  # pebble kills a worker whose task overruns its timeout
                future = self.executor.schedule(library_chunk, args=args, timeout=hard_deadline_s(limits) * len(chunk))
            else:
                future = self.executor.submit(library_chunk, *args)
            futures.append((chunk, future))
        for chunk, future in futures:
            run.finish_chunk(chunk, future.result())
        return run.verdicts()

    def close(self) -> None:
        if self.library == "pebble":
            self.executor.close()
            self.executor.join()
        else:
            self.executor.shutdown(wait=True)


def compare_libraries(pool, items, limits, workers: int, repeat: int) -> list[str]:
    """Best-of-`repeat` rates of pebble and loky against the warm hand-written pool, alternating."""
    others = {name: LibraryPool(name, workers) for name in ("pebble", "loky")}
    best = {name: float("inf") for name in ["hand", *others]}
    cpu = dict(best)
    try:
        for other in others.values():
            timed(other, items, limits)  # warm: workers started, problems loaded
        runners = [("hand", pool), *others.items()]
        for r in range(repeat):  # each side goes first in turn, so that none always follows the same one
            for name, runner in runners[r % 3 :] + runners[: r % 3]:
                seconds, cpu_s, _ = timed(runner, items, limits)
                best[name], cpu[name] = min(best[name], seconds), min(cpu[name], cpu_s)
    finally:
        for other in others.values():
            other.close()
    n = len(items)
    return [
        f"pool_libraries: hand={n / best['hand']:.1f} checks/s "
        + " ".join(f"{name}={n / best[name]:.1f} checks/s" for name in others),
        "pool_libraries_ratio: " + " ".join(f"{name}/hand={best['hand'] / best[name]:.2f}x" for name in others),
        # CPU per check (parent and workers) says less about load from other work than the wall clock.
        "pool_libraries_cpu: " + " ".join(f"{name}_cpu_ms_per_check={1000 * cpu[name] / n:.3f}" for name in best),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=400, help="Checks in the batch.")
    ap.add_argument("--per-problem", type=int, default=4, help="Mutants per reference solution.")
    ap.add_argument("--workers", type=int, default=2, help="Pool size to compare with one process.")
    ap.add_argument("--timeout", type=float, default=10.0, help="Solver timeout per check, seconds.")
    ap.add_argument("--repeat", type=int, default=3, help="Timed runs per side, alternating; the best counts.")
    ap.add_argument("--libraries", action="store_true", help="Also time pebble and loky on the same chunks.")
    args = ap.parse_args(argv)
    from proofloop.executors import CheckPool
    from proofloop.types import CheckLimits

    limits = CheckLimits(timeout_s=args.timeout)
    items = build_batch(args.size, args.per_problem)
    with CheckPool("local", workers=args.workers) as pool, CheckPool("local", workers=1) as here:
        cold_s, _, _ = timed(pool, items, limits)  # starts the pool, which is kept, warm
        timed(here, items, limits)  # warm-up of this process: every problem loaded once
        single_s = pool_s = single_cpu = pool_cpu = float("inf")
        for _ in range(args.repeat):  # alternate, so that a burst of other work hits both sides
            seconds, cpu, single = timed(here, items, limits)
            single_s, single_cpu = min(single_s, seconds), min(single_cpu, cpu)
            seconds, cpu, pooled = timed(pool, items, limits)
            pool_s, pool_cpu = min(pool_s, seconds), min(pool_cpu, cpu)
        libraries = compare_libraries(pool, items, limits, args.workers, args.repeat) if args.libraries else []
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
    for line in libraries:
        print(line)
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
