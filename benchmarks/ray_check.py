"""Checking on Ray against the local process pool, on the same batch and the same cores.

The batch is batch_check.py's (bundled SyGuS problems, references and mutants). A local Ray
cluster with --workers CPUs is started here. Both sides are warm (one untimed batch: workers
started, problems loaded) and timed in turn, --repeat times; each side's best time counts.

    .venv/bin/python benchmarks/ray_check.py [--size 400] [--workers 2] [--repeat 3]

Prints
  ray_check: local=... checks/s ray=... checks/s ray/local=...x ray_overhead_ms_per_check=...
     (the overhead is in worker time: (ray_s - local_s) * workers / checks)
  driver: driver_cpu_ms_per_verdict=... driver_bound_checks_per_s=...
     (CPU this process spends per verdict on Ray: submitting, waiting, unpickling, bookkeeping)
  store: verdict_writes_per_s=... (put_verdicts in batches of 128, as the loop stores them)
and a line per cluster size with the checks/s those three bounds predict for Lean-sized checks
(--check-s seconds of one CPU each), the plan docs/scale.md explains.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_check import build_batch  # noqa: E402


def best_time(pool, items, limits, repeat: int) -> tuple[float, float]:
    """Best wall seconds and the driver's CPU seconds of that run."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        cpu = time.process_time()
        started = time.perf_counter()
        pool.check_batch(items, limits)
        seconds = time.perf_counter() - started
        if seconds < best:
            best, best_cpu = seconds, time.process_time() - cpu
    return best, best_cpu


def store_writes_per_s(items, verdicts, batches: int = 20, batch: int = 128) -> float:
    """Verdicts per second that Store.put_verdicts writes, one transaction per batch."""
    from proofloop.config import load_config
    from proofloop.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.create(Path(tmp) / "run", load_config(None, []))
        rows = [(p.id, f"{k:064x}", v) for k, ((p, _), v) in enumerate(zip(items, verdicts))]
        rows = (rows * (batches * batch // len(rows) + 1))[: batches * batch]
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            chunk = [(pid, f"{start + k:064x}", v) for k, (pid, _, v) in enumerate(rows[start : start + batch])]
            store.put_verdicts(chunk)
        seconds = time.perf_counter() - started
        store.close()
    return len(rows) / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=400, help="Checks in the batch.")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local pool and of the Ray cluster.")
    ap.add_argument("--repeat", type=int, default=3, help="Timed runs per side, alternating; the best counts.")
    ap.add_argument("--check-s", type=float, default=9.6, help="CPU seconds of one Lean-sized check, for the plan.")
    args = ap.parse_args(argv)
    import ray

    from proofloop.executors import CheckPool
    from proofloop.types import CheckLimits

    limits = CheckLimits(timeout_s=10.0)
    items = build_batch(args.size, 4)
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    try:
        with CheckPool("local", args.workers) as local, CheckPool("ray", args.workers) as on_ray:
            verdicts = local.check_batch(items, limits)
            on_ray.check_batch(items, limits)  # warm: Ray workers started, provers built
            local_s = ray_s = ray_cpu = float("inf")
            for _ in range(args.repeat):
                local_s = min(local_s, best_time(local, items, limits, 1)[0])
                seconds, cpu = best_time(on_ray, items, limits, 1)
                if seconds < ray_s:
                    ray_s, ray_cpu = seconds, cpu
    finally:
        ray.shutdown()
    n = len(items)
    overhead_ms = 1000 * (ray_s - local_s) * args.workers / n
    print(
        f"ray_check: checks={n} workers={args.workers} local={n / local_s:.1f} checks/s ray={n / ray_s:.1f} checks/s "
        f"ray/local={local_s / ray_s:.2f}x ray_overhead_ms_per_check={overhead_ms:.2f}"
    )
    driver_ms = 1000 * ray_cpu / n
    print(f"driver: driver_cpu_ms_per_verdict={driver_ms:.3f} driver_bound_checks_per_s={1000 / driver_ms:.0f}")
    writes = store_writes_per_s(items, verdicts)
    print(f"store: verdict_writes_per_s={writes:.0f}")
    # checks/s on W workers: each worker does 1 / (check_s + overhead) checks per second, until the
    # driver (one core collecting verdicts) or the store (one writer) is the slower side.
    per_worker = 1 / (args.check_s + overhead_ms / 1000)
    for w in (2, 8, 60, 256, 1024, 8192):
        rate = min(w * per_worker, 1000 / driver_ms, writes)
        bound = "workers" if rate == w * per_worker else ("driver" if rate == 1000 / driver_ms else "store")
        print(f"plan: workers={w} check_s={args.check_s:g} predicted_checks_per_s={rate:.1f} bound_by={bound}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
