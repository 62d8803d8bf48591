"""Does a learned guide make the synthesizer solve more within a small budget? One quick run.

    .venv/bin/python benchmarks/guide_quick.py [--fit-budget 5] [--budgets 1 2] [--jobs 2]
        [--solutions FILE] [--seed 0] [--limit N]

Problems: the public SyGuS-Comp files under ../shared/benchmarks/sygus: CLIA_Track/from_2018
(88), Inv_Track/from_2018 (127) and Inv_Track/xujie_code2inv (276); the script exits with a
message when that folder is absent. They are split in two halves by a seeded hash of the
program (Code2Inv's `N.c.sl`, `N_conf1.sl` and `N_conf5.sl` are one program, so they fall in
the same half). The uniform search runs on the first half with `--fit-budget` seconds per
problem; a PHOG is fitted on its verified answers (`fit_guide("phog", ...)`). Then uniform and
the PHOG each run on the second half at every budget of `--budgets`, each problem in a worker
of a pool of `--jobs` processes (`Z3Prover().search(problem, time_budget_s=b, guide=g)`; every
answer it returns was verified by the checker), the two searches of a problem one after the
other. `--solutions FILE` keeps the first half's answers as JSON and reuses them when the file
exists.

Prints solved counts per budget, guide and directory, and the problems only one guide solved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO.parent / "shared" / "benchmarks" / "sygus"
DIRECTORIES = ("CLIA_Track/from_2018", "Inv_Track/from_2018", "Inv_Track/xujie_code2inv")


def program(path: Path) -> str:
    """The program a file is a variant of: Code2Inv's N.c.sl, N_conf1.sl, N_conf5.sl are one."""
    return re.sub(r"(\.c|_conf\d+)$", "", path.name.removesuffix(".sl"))


def halves(paths: list[tuple[str, Path]], seed: int) -> tuple[list, list]:
    first, second = [], []
    for directory, path in paths:
        digest = hashlib.sha256(f"{seed}:{directory}:{program(path)}".encode()).digest()
        (first if digest[0] % 2 == 0 else second).append((directory, path))
    return first, second


def load(path: Path):
    from provers.z3 import Z3Prover

    (problem,) = Z3Prover().load(path)
    return problem


def solve(job: tuple[str, Path, float, object]) -> tuple[str, Path, str, float, str | None]:
    """One search in a worker: (directory, path, status, seconds, answer)."""
    from proofloop.errors import ProofloopError
    from provers.z3 import Z3Prover

    directory, path, budget, guide = job
    try:
        problem = load(path)
    except ProofloopError as e:  # an unreadable file counts as unsolved
        return directory, path, f"unreadable: {type(e).__name__}", 0.0, None
    started = time.perf_counter()
    result = Z3Prover().search(problem, time_budget_s=budget, guide=guide)
    answer = result.proof if result.verdict is not None and result.verdict.verified else None
    return directory, path, result.status.value, time.perf_counter() - started, answer


def run_all(jobs: list, workers: int) -> list:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(solve, jobs, chunksize=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit-budget", type=float, default=5.0)
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solutions", type=Path, help="first-half answers (JSON), reused when present")
    parser.add_argument("--limit", type=int, help="at most this many files per directory (a smoke run)")
    args = parser.parse_args()
    if not ROOT.is_dir():
        print(f"no benchmarks at {ROOT}: nothing to measure")
        return 0
    sys.path.insert(0, str(REPO))
    from provers.z3.synth import Uniform, fit_guide

    paths = [(d, p) for d in DIRECTORIES for p in sorted((ROOT / d).glob("*.sl"))[: args.limit]]
    first, second = halves(paths, args.seed)
    print(f"files: {len(paths)}  fit half: {len(first)}  test half: {len(second)}", flush=True)

    if args.solutions and args.solutions.exists():
        answers = json.loads(args.solutions.read_text())
    else:
        started = time.perf_counter()
        done = run_all([(d, p, args.fit_budget, Uniform()) for d, p in first], args.jobs)
        answers = {str(p): answer for d, p, _, _, answer in done if answer is not None}
        print(f"fit half, uniform at {args.fit_budget:g} s: {len(answers)}/{len(first)} solved "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
        if args.solutions:
            args.solutions.write_text(json.dumps(answers, indent=1, sort_keys=True))
    guide = fit_guide("phog", [(load(p), answers[str(p)]) for d, p in first if str(p) in answers])
    print("families:", dict(sorted(guide.backoff.counts.get("inv", {}).items())), flush=True)

    guides = {"uniform": Uniform(), "phog": guide}
    for budget in args.budgets:
        # Both guides' searches of a problem run one after the other in the same pool, so that a
        # change of load on the machine falls on both alike.
        jobs = [(name, (d, p, budget, g)) for d, p in second for name, g in guides.items()]
        started = time.perf_counter()
        done = run_all([job for _, job in jobs], args.jobs)
        solved: dict[str, set[Path]] = {name: set() for name in guides}
        per_dir: dict[str, Counter] = {name: Counter() for name in guides}
        for (name, _), (d, p, status, _, _) in zip(jobs, done):
            if status == "verified":
                solved[name].add(p)
                per_dir[name][d] += 1
        for name in guides:
            shown = "  ".join(f"{d}={per_dir[name][d]}" for d in DIRECTORIES)
            print(f"budget {budget:g} s  {name:8} solved {len(solved[name])}/{len(second)}  {shown}", flush=True)
        print(f"budget {budget:g} s  only uniform: {sorted(p.name for p in solved['uniform'] - solved['phog'])}  "
              f"only phog: {sorted(p.name for p in solved['phog'] - solved['uniform'])}  "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
