#!/usr/bin/env python3
"""Run the embedded default `proofloop run` in a subprocess and report what it reached.

Measures wall time and peak memory (resident set summed over the whole process tree, checker
workers included, sampled every 0.2 s), then prints the per-round table from the run's store
and the ratio of the last round's held-out pass@k to the round-1 model's.

    python benchmarks/default_run.py                  # the default run, in a temporary directory
    python benchmarks/default_run.py --keep runs/     # keep the run directory under runs/
    python benchmarks/default_run.py --set sampling.n=4 --rounds 1   # extra arguments go to `proofloop run`

Targets (2 CPU cores): wall_s <= 600, peak_rss_mb <= 4096, the ratio >= 1.5x, and held-out
pass@k never falls from one kept round to the next.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

WALL_TARGET_S = 600
RSS_TARGET_MB = 4096
RATIO_TARGET = 1.5


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


def run_default(out_dir: Path, extra: list[str], timeout_s: float) -> tuple[float, float, str, int]:
    """Run `proofloop run` and return (wall seconds, peak tree RSS in MiB, stdout, exit code)."""
    cmd = [sys.executable, "-m", "proofloop.cli", "run", "--out-dir", str(out_dir), *extra]
    peak = 0.0
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    proc = psutil.Process(child.pid)
    done = threading.Event()

    def sample_memory() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, tree_rss_mb(proc))
            except psutil.NoSuchProcess:
                return
            done.wait(0.2)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    try:
        out, _ = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        for p in [*proc.children(recursive=True), proc]:
            p.kill()
        out, _ = child.communicate()
    done.set()
    sampler.join()
    return time.perf_counter() - started, peak, out, child.returncode


def round_table(run_dir: Path) -> tuple[list[dict], int]:
    """Per-round metrics and gate decisions from the run's store, and the configured k."""
    conn = sqlite3.connect(run_dir / "store.sqlite")
    k = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])["sampling"]["k"]
    rows = []
    for r, kept, reason in conn.execute("SELECT round, kept, gate_reason FROM rounds WHERE phase = 'done' ORDER BY round"):
        metrics = dict(conn.execute("SELECT key, value FROM metrics WHERE round = ?", (r,)))
        rows.append({"round": r, "kept": kept, "gate": reason, **metrics})
    conn.close()
    return rows, k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Parent directory for the run (default: a temporary one, removed).")
    parser.add_argument("--timeout", type=float, default=1800, help="Give up after this many seconds.")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="proofloop-bench-") as tmp:
        out_dir = args.keep or Path(tmp)
        wall, peak, out, rc = run_default(out_dir, extra, args.timeout)
        run_line = [line for line in out.splitlines() if line.startswith("run_dir: ")]
        print(f"default_run: wall_s={wall:.1f} peak_rss_mb={peak:.0f} exit={rc}")
        if rc != 0 or not run_line:
            print(out[-2000:])
            return 1
        run_dir = Path(run_line[-1].removeprefix("run_dir: "))
        rows, k = round_table(run_dir)
    key = f"heldout_pass@{k}"
    print(f"{'round':>5} {'solved_train':>12} {'heldout_pass@1':>14} {key:>14} {'forgetting':>10} {'kept':>4}  gate")
    for row in rows:
        print(
            f"{row['round']:>5} {row.get('solved_train', 0):>12.0f} {row.get('heldout_pass@1', 0):>14.4f} "
            f"{row.get(key, 0):>14.4f} {row.get('forgetting', 0):>10.4f} {'yes' if row['kept'] else 'no':>4}  {row['gate']}"
        )
    if rows and "grammar_heldout_pass@1" in rows[0]:
        print(f"grammar baseline: heldout_pass@1={rows[0]['grammar_heldout_pass@1']:.4f} "
              f"{key}={rows[0].get(f'grammar_{key}', 0):.4f}")
    by_round = {row["round"]: row for row in rows}
    if 1 in by_round and rows[-1]["round"] > 1:
        first = by_round[1].get(key, 0.0)
        final = [row for row in rows if row["kept"]][-1]  # the policy the run ends with
        for label, row in (("last round", rows[-1]), (f"final kept (round {final['round']})", final)):
            last = row.get(key, 0.0)
            ratio = f"{last / first:.2f}x" if first > 0 else ("inf" if last > 0 else "n/a (both 0)")
            met = first > 0 and last / first >= RATIO_TARGET
            print(f"{key} {label} / round 1 = {ratio} ({last:.4f} / {first:.4f}); "
                  f"target >={RATIO_TARGET}x {'met' if met else 'MISSED'}")
        zero = by_round[0].get(key, 0.0)
        if zero > 0:
            print(f"{key} final kept / round 0 (the first model) = {final.get(key, 0.0) / zero:.2f}x")
    kept = [row.get(key, 0.0) for row in rows if row["kept"]]
    monotone = all(b >= a for a, b in zip(kept, kept[1:]))
    print(f"{key} never falls between kept rounds: {'yes' if monotone else 'no'}")
    print(f"targets: wall_s<={WALL_TARGET_S} {'met' if wall <= WALL_TARGET_S else 'MISSED'}, "
          f"peak_rss_mb<={RSS_TARGET_MB} {'met' if peak <= RSS_TARGET_MB else 'MISSED'}")
    if args.keep:
        print(f"run_dir: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
