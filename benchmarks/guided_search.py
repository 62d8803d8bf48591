#!/usr/bin/env python3
"""Does the loop teach the search? Held-out solved counts of the synthesizer under the uniform cost,
under each round's learned guide, and next to cvc5, on a public benchmark split.

    python benchmarks/guided_search.py --config configs/sygus-public.toml      # a 3-round run, then the tables
    python benchmarks/guided_search.py --run-dir runs/X --budgets 2,10 --kinds pcfg,phog --cvc5-budget 30

1. The run: `proofloop run --config CONFIG` with `search.policy = true` (its guide kind and budget
   from the config; `--set` arguments pass through), or a finished run given by `--run-dir`. Its
   held-out problems never enter its dataset.
2. For the first budget of `--budgets`: every held-out problem searched once under the uniform cost
   and under the guide of each round (checkpoints/round-r/guide.json); for the other budgets under
   the uniform cost and the last round's guide; in `--workers` processes; every
   answer is checked again by the check pool. Solved count, PAR-2 (an unsolved problem counts
   2 x budget), and paired differences over problems (95% paired-bootstrap intervals): each
   round's guide against the uniform cost and against the round before.
3. Ablation of the guide kind (`--kinds`): each kind fitted on the same rows, those the last round
   trained on, at the first budget. Within a budget the guides take turns problem by problem, so
   a change of the machine's load falls on all of them alike. (`model` and `mix` read a trained model: they are measured by
   a run of their own with `--set search.guide=model`.)
4. `--cvc5-budget S`: the last round's guide and cvc5 (`cvc5 --lang sygus2`) at S seconds each,
   cvc5's answers re-checked by proofloop's checker (benchmarks/vs_cvc5.py).

Per-problem results go to `--out` (JSON). The last line is
`guided_search: budget=B uniform=U last=G ratio=R monotone=yes|no cvc5_budget=S guided=X cvc5=Y heldout=N`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proofloop.metrics import paired_difference_ci  # noqa: E402


def start_run(args) -> Path:
    """Run the loop with the search policy; returns its run directory."""
    cmd = [sys.executable, "-m", "proofloop.cli", "run", "--no-report", "--config", args.config,
           "--set", "search.policy=true", "--set", f"loop.rounds={args.rounds}", *sum((["--set", s] for s in args.set), [])]
    if args.out_dir:
        cmd += ["--set", f"run.out_dir={args.out_dir}"]
    print("run:", " ".join(cmd[2:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("run_dir: ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"guided_search: the run failed (exit {done.returncode}): {done.stderr[-1500:]}")
    print(f"run: {time.perf_counter() - started:.0f} s", flush=True)
    run_dir = Path(lines[-1].removeprefix("run_dir: "))
    return run_dir if run_dir.is_absolute() else REPO / run_dir


def heldout_problems(run_dir: Path):
    from proofloop.prover import get_prover

    conn = sqlite3.connect(run_dir / "store.sqlite")
    rows = conn.execute("SELECT id, text, source, prover FROM problems WHERE split = 'heldout' ORDER BY id").fetchall()
    conn.close()
    return [get_prover(prover).from_text(text, id=pid, source=source or "", split="heldout")
            for pid, text, source, prover in rows]


def round_guides(run_dir: Path) -> list[tuple[int, bool, Path]]:
    conn = sqlite3.connect(run_dir / "store.sqlite")
    rows = conn.execute("SELECT round, kept, checkpoint FROM rounds WHERE phase = 'done' ORDER BY round").fetchall()
    conn.close()
    return [(r, bool(kept), Path(path) / "guide.json") for r, kept, path in rows if (Path(path) / "guide.json").is_file()]


def solve(problems, guides: dict[str, object], budget: float, workers: int, pool) -> dict[str, dict[str, tuple[bool, float]]]:
    """guide name -> problem id -> (verified after the pool's re-check, seconds). The guides take
    their turns problem by problem (interleaved), so a change of the machine's load over the
    minutes of a measurement falls on every guide alike."""
    from proofloop.evaluate import search_problems
    from proofloop.types import CheckLimits

    names = list(guides)
    jobs = [(problem, name) for problem in problems for name in names]
    results = search_problems([p for p, _ in jobs], CheckLimits(timeout_s=max(10.0, budget)), pool, budget_s=budget,
                              guides=[guides[name] for _, name in jobs], workers=workers)
    out: dict[str, dict[str, tuple[bool, float]]] = {name: {} for name in names}
    for (problem, name), r in zip(jobs, results):
        out[name][problem.id] = (r.verified > 0, r.seconds)
    return out


def par2(results: dict[str, tuple[bool, float]], budget: float) -> float:
    return sum(s if ok else 2 * budget for ok, s in results.values()) / max(1, len(results))


def solved(results) -> int:
    return sum(ok for ok, _ in results.values())


def as_pass(results) -> dict[str, float]:
    return {pid: float(ok) for pid, (ok, _) in results.items()}


def diff_cell(current, reference) -> str:
    mean, lo, hi = paired_difference_ci(as_pass(current), as_pass(reference), resamples=2000)
    return f"{mean * len(current):+.0f} [{lo * len(current):+.1f}, {hi * len(current):+.1f}]"


def cvc5_runs(problems, budget: float, jobs: int, binary: str, cache: Path | None) -> dict[str, tuple[bool, float]]:
    """problem id -> (cvc5 answered and proofloop's checker verified the answer, seconds).

    cvc5's runs do not depend on any guide: with `cache`, runs already there (same file, same
    budget, same cvc5) are reused and new ones added, so a second report costs no cvc5 time."""
    from vs_cvc5 import recheck, run_cvc5

    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    stored = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    key = lambda p: f"{version}|{budget:g}|{Path(p.source).resolve()}"  # noqa: E731

    def one(problem):
        if key(problem) in stored:
            return problem.id, tuple(stored[key(problem)])
        path = Path(problem.source)
        run = recheck(run_cvc5(path, budget, binary), path)
        return problem.id, (run.status == "verified", run.seconds)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        out = dict(pool.map(one, problems))
    if cache:
        stored.update({key(p): list(out[p.id]) for p in problems})
        cache.write_text(json.dumps(stored, indent=0))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/sygus-public.toml")
    ap.add_argument("--run-dir", help="a finished run with the search policy (skip the run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="section.key=value for the run (repeatable)")
    ap.add_argument("--out-dir", help="where the run directory goes (default: the config's)")
    ap.add_argument("--budgets", default="2,10", help="seconds per search, comma-separated")
    ap.add_argument("--kinds", default="pcfg,phog", help="guide kinds fitted on the last round's rows")
    ap.add_argument("--cvc5-budget", type=float, default=30.0, help="0: no cvc5 comparison")
    ap.add_argument("--cvc5", default=shutil.which("cvc5") or "cvc5")
    ap.add_argument("--cvc5-cache", type=Path, help="JSON file of cvc5 runs to reuse and extend (cvc5 needs no guide)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="guided_search.json")
    args = ap.parse_args(argv)

    from proofloop.executors import CheckPool
    from proofloop.prover import get_prover

    run_dir = Path(args.run_dir) if args.run_dir else start_run(args)
    problems = heldout_problems(run_dir)
    prover = get_prover(problems[0].prover)
    guides = round_guides(run_dir)
    budgets = [float(b) for b in args.budgets.split(",") if b]
    report: dict = {"run_dir": str(run_dir), "heldout": len(problems), "budgets": {}, "kinds": {}, "cvc5": {}}
    print(f"held-out problems: {len(problems)}; rounds with a guide: {[r for r, _, _ in guides]}", flush=True)
    summary = {}
    last = guides[-1] if guides else None
    kinds = [k for k in args.kinds.split(",") if k and k != "uniform"]
    with CheckPool("local", workers=args.workers) as pool:
        for i, budget in enumerate(budgets):
            # Every round's guide (and the ablation's kinds) at the first budget; uniform and the
            # last round's guide at the others.
            chosen = {"uniform": prover.fit_guide("uniform", [])}
            for r, kept, path in (guides if i == 0 else guides[-1:]):
                chosen[f"round-{r}"] = prover.load_guide(path)
            if i == 0 and guides:
                rows = last_training_rows(run_dir)
                chosen.update({f"{kind} (last rows)": prover.fit_guide(kind, rows) for kind in kinds})
            started = time.perf_counter()
            table = solve(problems, chosen, budget, args.workers, pool)
            print(f"\nbudget {budget:g} s, {len(problems)} held-out problems ({time.perf_counter() - started:.0f} s)")
            print(f"{'guide':18s} {'kept':>4s} {'solved':>6s} {'PAR-2':>7s}  {'vs uniform [95% CI]':>22s}  {'vs round before':>22s}")
            kept_of = {f"round-{r}": k for r, k, _ in guides}
            rounds = [n for n in table if n in kept_of]
            for name, res in table.items():
                kept = {True: "yes", False: "no"}.get(kept_of.get(name), "")
                vs_u = "" if name == "uniform" else diff_cell(res, table["uniform"])
                j = rounds.index(name) if name in rounds else -1
                vs_prev = diff_cell(res, table[rounds[j - 1]]) if j >= 1 else ""
                print(f"{name:18s} {kept:>4s} {solved(res):6d} {par2(res, budget):7.2f}  {vs_u:>22s}  {vs_prev:>22s}")
            report["budgets"][str(budget)] = table
            if i == 0:
                counts = [solved(table[n]) for n in rounds]
                summary = {"budget": budget, "uniform": solved(table["uniform"]), "last": counts[-1] if counts else 0,
                           "monotone": all(b >= a for a, b in zip(counts, counts[1:]))}
        if args.cvc5_budget and last:
            b = args.cvc5_budget
            guided = solve(problems, {"last": prover.load_guide(last[2])}, b, args.workers, pool)["last"]
            theirs = cvc5_runs(problems, b, args.workers, args.cvc5, args.cvc5_cache)
            report["cvc5"] = {"budget": b, "guided": guided, "cvc5": theirs}
            print(f"\nat {b:g} s: guided (round {last[0]}) solved={solved(guided)} par2={par2(guided, b):.2f}; "
                  f"cvc5 solved={solved(theirs)} par2={par2(theirs, b):.2f}")
            summary.update(cvc5_budget=b, guided=solved(guided), cvc5=solved(theirs))
    Path(args.out).write_text(json.dumps(report, indent=1))
    ratio = summary.get("last", 0) / max(1, summary.get("uniform", 0))
    print(f"guided_search: budget={summary.get('budget', 0):g} uniform={summary.get('uniform', 0)} "
          f"last={summary.get('last', 0)} ratio={ratio:.2f} monotone={'yes' if summary.get('monotone') else 'no'} "
          f"cvc5_budget={summary.get('cvc5_budget', 0):g} guided={summary.get('guided', 0)} "
          f"cvc5={summary.get('cvc5', 0)} heldout={len(problems)}")


def last_training_rows(run_dir: Path):
    """(problem, candidate) of the rows the last round trained on."""
    from proofloop.prover import get_prover

    conn = sqlite3.connect(run_dir / "store.sqlite")
    (last,) = conn.execute("SELECT MAX(round) FROM training_rows").fetchone()
    rows = conn.execute(
        "SELECT p.id, p.text, p.source, p.prover, d.candidate FROM training_rows t JOIN dataset d ON d.id = t.dataset_id "
        "JOIN problems p ON p.id = d.problem_id WHERE t.round = ?", (last,)).fetchall()
    conn.close()
    return [(get_prover(prover).from_text(text, id=pid, source=source or ""), cand) for pid, text, source, prover, cand in rows]


if __name__ == "__main__":
    main()
