#!/usr/bin/env python3
"""Do the loop's own verified rows matter? The default run next to its two ablations, per seed.

For each seed, three runs of `proofloop run` with the same config, seed and schedule:

- `loop`: the run as configured;
- `refs_only`: `select.own_rows = false`, the loop's own verified rows kept out of the dataset, so
  the model trains on the reference solutions alone, unlocked on the same schedule, same steps;
- `pure_ei`: `select.reference_rounds = 0`, references only in round 0; after it the model trains
  on what it verified itself (pure expert iteration).

Per round it prints each variant's held-out pass@1 and pass@K, the paired difference of the loop
against each ablation (mean and 95% paired-bootstrap interval over held-out problems), the
diversity metrics, then the targets of the issue as met/MISSED over the seeds. Per-run results go
to a JSON file (--out).

    python benchmarks/ablation.py --seeds 3                  # 9 runs, one at a time
    python benchmarks/ablation.py --seeds 1 --variants loop,refs_only --rounds 2
    python benchmarks/ablation.py --seeds 3 --set train.max_steps=300   # extra arguments go to every run

The last line is `ablation: loop_vs_refs=X.XXx diff_lo=... pure_ei_ratio=... seeds=N`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_run import round_table, run_default  # noqa: E402

from proofloop.evaluate import problem_counts  # noqa: E402
from proofloop.metrics import pass_at_k_by_problem, paired_difference_ci  # noqa: E402

VARIANTS = {
    "loop": [],
    "refs_only": ["--set", "select.own_rows=false"],
    "pure_ei": ["--set", "select.reference_rounds=0"],
}


def per_problem(run_dir: Path, k: int) -> dict[int, dict[str, float]]:
    """round -> held-out problem -> pass@k, from the run's store (the run's one checker version)."""
    from proofloop.store import Store

    store = Store.open(run_dir)
    try:
        conn = sqlite3.connect(run_dir / "store.sqlite")
        checker, version = conn.execute("SELECT checker, checker_version FROM verdicts LIMIT 1").fetchone()
        rounds = [r for (r,) in conn.execute("SELECT round FROM rounds WHERE phase = 'done' ORDER BY round")]
        conn.close()
        return {r: pass_at_k_by_problem(problem_counts(store.attempts(r, "heldout", checker, version)), k) for r in rounds}
    finally:
        store.close()


def run_variant(seed: int, variant: str, args, extra: list[str]) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="proofloop-ablation-") as tmp:
        out_dir = (args.keep / f"{variant}-seed{seed}") if args.keep else Path(tmp)
        wall, peak, out, rc = run_default(out_dir, [*extra, *VARIANTS[variant], "--set", f"run.seed={seed}"], args.timeout)
        run_line = [line for line in out.splitlines() if line.startswith("run_dir: ")]
        print(f"ablation seed={seed} variant={variant}: wall_s={wall:.1f} peak_rss_mb={peak:.0f} exit={rc}", flush=True)
        if rc != 0 or not run_line:
            print(out[-2000:])
            return None
        run_dir = Path(run_line[-1].removeprefix("run_dir: "))
        rows, k = round_table(run_dir)
        return {"seed": seed, "variant": variant, "wall_s": wall, "k": k, "rounds": rows,
                "per_problem": {str(r): v for r, v in per_problem(run_dir, k).items()}}


def metric(result: dict, r: int, name: str) -> float:
    row = result["rounds"][r] if r < len(result["rounds"]) else {}
    return row.get(name.replace("@K", f"@{result['k']}"), 0.0) or 0.0


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: dict[tuple[int, str], dict], seeds: list[int], variants: list[str]) -> None:
    k = next(iter(results.values()))["k"]
    key = f"heldout_pass@{k}"
    for seed in seeds:
        runs = {v: results.get((seed, v)) for v in variants}
        if any(run is None for run in runs.values()):
            continue
        rounds = min(len(run["rounds"]) for run in runs.values())
        print(f"seed {seed}:")
        head = "round " + " ".join(f"{v + ' p@1':>14} {v + ' p@' + str(k):>14}" for v in variants)
        head += "".join(f"  loop-{v} (95% CI)".ljust(30) for v in variants if v != "loop" and "loop" in runs)
        print(head)
        for r in range(rounds):
            cells = " ".join(f"{metric(runs[v], r, 'heldout_pass@1'):>14.3f} {metric(runs[v], r, key):>14.3f}" for v in variants)
            diffs = ""
            for v in variants:
                if v == "loop" or "loop" not in runs:
                    continue
                mean, lo, hi = paired_difference_ci(runs["loop"]["per_problem"][str(r)], runs[v]["per_problem"][str(r)])
                diffs += f"  {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]".ljust(30)
            print(f"{r:>5} {cells}{diffs}")
        for v in variants:
            run = runs[v]
            div = " ".join(f"r{r}: p@{k}/p@1={metric(run, r, key) / max(metric(run, r, 'heldout_pass@1'), 1e-9):.2f} "
                           f"uniq={metric(run, r, 'unique_per_solved'):.2f} ent={metric(run, r, 'entropy'):.3f}"
                           for r in range(1, rounds))
            print(f"  {v} diversity: {div}")
    loop = [results[(s, "loop")] for s in seeds if (s, "loop") in results]
    refs = [results[(s, "refs_only")] for s in seeds if (s, "refs_only") in results]
    pure = [results[(s, "pure_ei")] for s in seeds if (s, "pure_ei") in results]
    mean = lambda runs, r, name: sum(metric(x, r, name) for x in runs) / len(runs)  # noqa: E731
    ratio, diff_lo = float("nan"), float("nan")
    if loop and refs:
        last = min(len(x["rounds"]) for x in loop + refs) - 1
        ratio = mean(loop, last, key) / max(mean(refs, last, key), 1e-9)
        bounds = [paired_difference_ci(a["per_problem"][str(last)], b["per_problem"][str(last)])[1]
                  for a, b in zip(loop, refs)]
        diff_lo = sum(bounds) / len(bounds)
        print(f"target: loop final {key} >= 1.3x refs_only: {verdict(ratio >= 1.3)} ({ratio:.2f}x)")
        print(f"target: paired difference lower bound > 0 (mean over seeds): {verdict(diff_lo > 0)} ({diff_lo:+.3f})")
    pure_ratio = float("nan")
    if pure:
        rounds = min(len(x["rounds"]) for x in pure)
        series = [mean(pure, r, key) for r in range(rounds)]
        pure_ratio = series[-1] / max(series[0], 1e-9)
        rises = all(b > a for a, b in zip(series, series[1:]))
        print(f"target: pure_ei rises every round: {verdict(rises)} ({' -> '.join(f'{v:.3f}' for v in series)})")
        print(f"target: pure_ei last >= 2x round 0: {verdict(pure_ratio >= 2)} ({pure_ratio:.2f}x)")
    if loop:
        kept = [(x, r) for x in loop for r, row in enumerate(x["rounds"]) if row.get("kept") and r > 0]
        spread = [metric(x, r, key) / max(metric(x, r, "heldout_pass@1"), 1e-9) for x, r in kept]
        print(f"target: pass@{k} >= 1.3x pass@1 in every kept round: {verdict(all(s >= 1.3 for s in spread))} "
              f"(min {min(spread, default=0):.2f}x)")
        last = [metric(x, len(x["rounds"]) - 1, "unique_per_solved") for x in loop]
        print(f"target: >= 2 unique solutions per solved problem by the last round: {verdict(min(last) >= 2)} "
              f"({', '.join(f'{u:.2f}' for u in last)})")
        ent = [metric(x, len(x["rounds"]) - 1, "entropy") / max(metric(x, 1, "entropy"), 1e-9) for x in loop
               if len(x["rounds"]) > 1]
        print(f"target: last entropy >= 0.8x round 1's: {verdict(all(e >= 0.8 for e in ent))} "
              f"({', '.join(f'{e:.2f}' for e in ent)})")
    print(f"ablation: loop_vs_refs={ratio:.2f}x diff_lo={diff_lo:+.3f} pure_ei_ratio={pure_ratio:.2f}x seeds={len(seeds)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0..N-1.")
    parser.add_argument("--variants", default="loop,refs_only,pure_ei", help="Comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument("--keep", type=Path, help="Keep the run directories under this folder.")
    parser.add_argument("--timeout", type=float, default=1800, help="Give up on a run after this many seconds.")
    parser.add_argument("--out", type=Path, default=Path("ablation.json"), help="Per-run results (JSON).")
    args, extra = parser.parse_known_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    seeds = list(range(args.seeds))
    results = {}
    for seed in seeds:
        for v in variants:
            result = run_variant(seed, v, args, extra)
            if result is not None:
                results[(seed, v)] = result
    args.out.write_text(json.dumps([*results.values()], indent=1))
    if not results:
        print("ablation: no run finished")
        return 1
    report(results, seeds, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
