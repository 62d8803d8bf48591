#!/usr/bin/env python3
"""Run the embedded default `proofloop run` in a subprocess and report what it reached.

Measures wall time and peak memory (resident set summed over the whole process tree, checker
workers included, sampled every 0.2 s), then prints the per-round table from the run's store
and the ratio of the last round's held-out pass@k to the round-1 model's.

    python benchmarks/default_run.py                  # the default run, in a temporary directory
    python benchmarks/default_run.py --keep runs/     # keep the run directory under runs/
    python benchmarks/default_run.py --seeds 3         # seeds 0, 1, 2: per-seed tables, means, targets
    python benchmarks/default_run.py --seeds 3 --jobs 3   # the same, the seeds side by side
    python benchmarks/default_run.py --set sampling.n=4 --rounds 1   # extra arguments go to `proofloop run`

Targets (2 CPU cores, means over the seeds): held-out pass@k rises in every model round, the
last round >= 1.5x round 1 and >= 2.5x round 0, forgetting <= 0.1 in every kept round, the
highest held-out level solved rises, the final model solves at least as many hand-written
held-out problems as the grammar sampler, wall_s <= 600 and peak_rss_mb <= 4096 per seed.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

WALL_TARGET_S = 600
RSS_TARGET_MB = 4096


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


PHASES = ("time_pretrain_s", "time_sample_s", "time_check_s", "time_select_s", "time_train_s", "time_eval_s")
COLUMNS = (
    ("solved_train", "train", "{:.0f}"), ("train_max_level", "trlvl", "{:.0f}"), ("heldout_pass@1", "p@1", "{:.3f}"),
    ("heldout_pass@K", "p@K", "{:.3f}"), ("heldout_pass@K_lo", "lo", "{:.3f}"), ("heldout_pass@K_hi", "hi", "{:.3f}"),
    ("heldout_gen_pass@K", "gen_p@K", "{:.3f}"), ("heldout_hand_solved_count", "hand", "{:.0f}"),
    ("heldout_max_level", "hlvl", "{:.0f}"), ("forgetting", "forget", "{:.3f}"), ("kept", "kept", "{:.0f}"),
)


def column(row: dict, key: str, k: int) -> float:
    return row.get(key.replace("@K", f"@{k}"), 0.0) or 0.0


def print_table(rows: list[dict], k: int, print=print) -> None:
    """One line per round: the COLUMNS, the per-phase seconds, then the gate's reason."""
    head = [f"{'round':>5}"] + [f"{label.replace('@K', f'@{k}'):>8}" for _, label, _ in COLUMNS]
    print(" ".join(head) + "  phases(sample/check/train/eval s)  gate")
    for row in rows:
        cells = [f"{row['round']:>5}"] + [f"{fmt.format(column(row, key, k)):>8}" for key, _, fmt in COLUMNS]
        phases = "/".join(f"{row.get(p, 0.0):.0f}" for p in ("time_sample_s", "time_check_s", "time_train_s", "time_eval_s"))
        print(" ".join(cells) + f"  {phases:>31}  {row['gate']}")


def one_seed(seed: int, args, extra: list[str]) -> tuple[tuple[list[dict], int, float, float] | None, str]:
    """Run one seed; ((rows, k, wall, peak) or None on failure, its summary line and table as text).

    The text is returned rather than printed so that seeds run side by side (--jobs) report whole.
    """
    lines: list[str] = []
    print = lines.append  # noqa: A001 - every report line of this seed goes to `lines`
    with tempfile.TemporaryDirectory(prefix="proofloop-bench-") as tmp:
        out_dir = args.keep or Path(tmp)
        wall, peak, out, rc = run_default(out_dir, [*extra, "--set", f"run.seed={seed}"], args.timeout)
        run_line = [line for line in out.splitlines() if line.startswith("run_dir: ")]
        print(f"default_run seed={seed}: wall_s={wall:.1f} peak_rss_mb={peak:.0f} exit={rc}")
        if rc != 0 or not run_line:
            print(out[-2000:])
            return None, "\n".join(lines)
        run_dir = Path(run_line[-1].removeprefix("run_dir: "))
        rows, k = round_table(run_dir)
    print_table(rows, k, print)
    phases = {p: sum(row.get(p, 0.0) for row in rows) for p in PHASES}
    print("phase_s: " + " ".join(f"{p.removeprefix('time_').removesuffix('_s')}={v:.1f}" for p, v in phases.items())
          + f" other={wall - sum(phases.values()):.1f} total={wall:.1f}")
    if rows and "grammar_heldout_pass@1" in rows[0]:
        print(f"grammar baseline: heldout_pass@{k}={column(rows[0], 'grammar_heldout_pass@K', k):.4f} "
              f"hand_solved={column(rows[0], 'grammar_heldout_hand_solved_count', k):.0f}")
    if args.keep:
        print(f"run_dir: {run_dir}")
    return (rows, k, wall, peak), "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def targets(results: list[tuple[list[dict], int, float, float]]) -> None:
    """Means over seeds per round, then each target of the issue as met/MISSED."""
    k = results[0][1]
    key = f"heldout_pass@{k}"
    rounds = min(len(rows) for rows, *_ in results)
    mean = lambda r, name: sum(column(rows[r], name, k) for rows, *_ in results) / len(results)  # noqa: E731
    print(f"means over {len(results)} seeds:")
    print(f"{'round':>5} {key:>14} {'gen_pass@' + str(k):>12} {'hand_solved':>11} {'heldout_lvl':>11} {'train_lvl':>9}")
    for r in range(rounds):
        print(f"{r:>5} {mean(r, key):>14.4f} {mean(r, f'heldout_gen_pass@{k}'):>12.4f} "
              f"{mean(r, 'heldout_hand_solved_count'):>11.2f} {mean(r, 'heldout_max_level'):>11.2f} "
              f"{mean(r, 'train_max_level'):>9.2f}")
    series = [mean(r, key) for r in range(rounds)]
    rises = all(b > a for a, b in zip(series, series[1:]))
    print(f"target: mean {key} rises in every model round: {verdict(rises)} ({' -> '.join(f'{v:.4f}' for v in series)})")
    if rounds > 2:
        r1 = series[-1] / series[1] if series[1] > 0 else float("inf")
        print(f"target: last round / round 1 = {r1:.2f}x >= 1.5x: {verdict(r1 >= 1.5)}")
    r0 = series[-1] / series[0] if series[0] > 0 else float("inf")
    print(f"target: last round / round 0 = {r0:.2f}x >= 2.5x: {verdict(r0 >= 2.5)}")
    forgets = [column(row, "forgetting", k) for rows, *_ in results for row in rows if row["kept"]]
    print(f"target: forgetting <= 0.1 in every kept round: {verdict(all(f <= 0.1 for f in forgets))} "
          f"(max {max(forgets, default=0.0):.3f})")
    levels = [mean(r, "heldout_max_level") for r in range(rounds)]
    climbs = all(b >= a for a, b in zip(levels, levels[1:])) and levels[-1] > levels[0]
    print(f"target: highest held-out level solved rises: {verdict(climbs)} ({' -> '.join(f'{v:.2f}' for v in levels)})")
    hand = []
    for rows, *_ in results:
        final = [row for row in rows if row["kept"]][-1]
        hand.append((column(final, "heldout_hand_solved_count", k), column(rows[0], "grammar_heldout_hand_solved_count", k)))
    print(f"target: hand-written held-out solved by the final model >= grammar sampler: "
          f"{verdict(all(m >= g for m, g in hand))} ({', '.join(f'{m:.0f} vs {g:.0f}' for m, g in hand)})")
    walls = [wall for _, _, wall, _ in results]
    print(f"target: wall_s <= {WALL_TARGET_S} per seed: {verdict(max(walls) <= WALL_TARGET_S)} "
          f"({', '.join(f'{w:.0f}' for w in walls)})")
    peaks = [peak for *_, peak in results]
    print(f"target: peak_rss_mb <= {RSS_TARGET_MB}: {verdict(max(peaks) <= RSS_TARGET_MB)} (max {max(peaks):.0f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Parent directory for the runs (default: temporary ones, removed).")
    parser.add_argument("--timeout", type=float, default=1800, help="Give up on a seed after this many seconds.")
    parser.add_argument("--seeds", type=int, default=1, help="Run seeds 0..N-1 and report the means.")
    parser.add_argument("--jobs", type=int, default=1,
                        help="Seeds run side by side (each seed's wall time then includes the others' load).")
    args, extra = parser.parse_known_args()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        reports = list(pool.map(lambda seed: one_seed(seed, args, extra), range(args.seeds)))
    for _, text in reports:
        print(text, flush=True)
    if any(result is None for result, _ in reports):
        return 1
    targets([result for result, _ in reports])
    return 0


if __name__ == "__main__":
    sys.exit(main())
