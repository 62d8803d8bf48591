"""proofloop's synthesizer next to cvc5 on SyGuS-Comp tracks, under the same limits.

    .venv/bin/python benchmarks/vs_cvc5.py --track clia|inv|code2inv [--problems DIR]
        [--timeout 30] [--jobs 2] [--csv out.csv] [--limit N]

Tracks (under ../shared/benchmarks/sygus, or --root): `clia` is CLIA_Track (88 files),
`code2inv` is Inv_Track/xujie_code2inv (276 files: 92 base programs `N.c.sl` and their
variants), `inv` the whole Inv_Track. `--problems DIR` runs every .sl file under DIR instead.

Each problem is solved by both sides, each in its own process with a wall-clock limit of
`--timeout` seconds; `--jobs` processes run at once. proofloop runs `Z3Prover.search` (the
synthesizer in provers/z3/synth) with that budget; its time is measured inside its process
from loading the file to the verified answer (the interpreter's start and imports, about a
second, are not counted). cvc5's time is the wall time of `cvc5 --lang sygus2`. A file that
either side cannot read counts as unsolved for that side. Every answer of either solver is
then re-checked by proofloop's checker (Z3Prover.check, 60 s); an answer that does not verify
counts as unsolved and is listed as a re-check failure.

Installing cvc5: `apt-get install cvc5` (Debian 12 ships 1.0.3), or the release binary from
https://github.com/cvc5/cvc5/releases on PATH, or `--cvc5 PATH`. (The PyPI `cvc5` bindings that
proofloop's cross-check uses have no SyGuS-IF front end, so the binary is needed here.)

Prints a per-problem table (also written as CSV with --csv: problem, solver, status, seconds,
size), then `key: value` lines: solved counts, PAR-2 (mean seconds, an unsolved problem counts
2 x timeout), the median time ratio proofloop/cvc5 on problems both solve, and last exactly
`solved: proofloop=N cvc5=M total=T`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO.parent / "shared" / "benchmarks" / "sygus"
TRACKS = {"clia": "CLIA_Track", "inv": "Inv_Track", "code2inv": "Inv_Track/xujie_code2inv"}
RECHECK_TIMEOUT_S = 60.0
SOLVERS = ("proofloop", "cvc5")


@dataclass
class Run:
    problem: str
    solver: str
    status: str  # verified | unknown | unreadable | error | timeout | recheck-failed
    seconds: float
    size: int = 0
    answer: str = ""
    note: str = ""


def answer_size(text: str) -> int:
    """Atoms and parentheses pairs of the bodies: a size that does not depend on layout."""
    return sum(1 for tok in text.replace("(", " ( ").replace(")", " ) ").split() if tok != ")")


# -- one solver on one problem, in a child process -------------------------------------------------


def solve_in_child(path: str, timeout: float) -> dict:
    """Runs inside the child: load, search, report as JSON."""
    import provers.z3.synth  # noqa: F401 - imports are not the search's time (numpy alone is 0.15 s)
    from provers.z3 import Z3Prover

    started = time.perf_counter()
    prover = Z3Prover()
    try:
        (problem,) = prover.load(Path(path))
    except Exception as e:  # noqa: BLE001 - an unreadable file is a result, not a crash
        return {"status": "unreadable", "seconds": time.perf_counter() - started, "note": str(e)[:200]}
    budget = max(0.1, timeout - (time.perf_counter() - started))
    result = prover.search(problem, None, time_budget_s=budget)
    seconds = time.perf_counter() - started
    status = "verified" if result.status.value == "verified" else "unknown"
    return {"status": status, "seconds": seconds, "answer": result.proof or "", "note": result.reason[:200],
            "stats": result.stats}


def run_proofloop(path: Path, timeout: float) -> Run:
    cmd = [sys.executable, __file__, "--child", str(path), "--timeout", str(timeout)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Run(path.name, "proofloop", "timeout", time.perf_counter() - started)
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Run(path.name, "proofloop", "error", time.perf_counter() - started, note=done.stderr[-300:])
    return Run(path.name, "proofloop", data["status"], data["seconds"], answer=data.get("answer", ""),
               note=data.get("note", ""))


def run_cvc5(path: Path, timeout: float, binary: str) -> Run:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [binary, "--lang", "sygus2", f"--tlimit={int(timeout * 1000)}", str(path)],
            capture_output=True, text=True, timeout=timeout + 5, check=False,
        )
    except subprocess.TimeoutExpired:
        return Run(path.name, "cvc5", "timeout", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    out = done.stdout.strip()
    if "(define-fun" not in out:
        lowered = (out + done.stderr).lower()
        status = "unreadable" if ("parse error" in lowered or "error" in lowered) else "unknown"
        return Run(path.name, "cvc5", status, seconds, note=(out + " " + done.stderr).strip()[:200])
    body = out[out.index("(define-fun"):]
    if body.endswith(")") and out.startswith("("):
        body = body[:-1].rstrip()  # the list around the definitions
    return Run(path.name, "cvc5", "verified", seconds, answer=body)


def recheck(run: Run, path: Path) -> Run:
    """proofloop's checker on the answer; an answer that does not verify counts as unsolved."""
    if run.status != "verified":
        return run
    from proofloop.types import CheckLimits
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    try:
        (problem,) = prover.load(path)
    except Exception as e:  # noqa: BLE001
        run.status, run.note = "recheck-failed", f"proofloop cannot read the problem: {e}"[:200]
        return run
    verdict = prover.check(problem, run.answer, CheckLimits(timeout_s=RECHECK_TIMEOUT_S))
    if not verdict.verified:
        run.status = "recheck-failed"
        run.note = f"{verdict.status.value}: {verdict.reason}: {verdict.message}"[:200]
    run.size = answer_size(run.answer)
    return run


# -- the report -----------------------------------------------------------------------------------


def files_of(args) -> tuple[str, Path, list[Path]]:
    if args.problems:
        folder = Path(args.problems)
        label = str(folder)
    else:
        folder = Path(args.root) / TRACKS[args.track]
        label = args.track
    if not folder.is_dir():
        sys.exit(f"vs_cvc5: {folder} is not a directory")
    files = sorted(p for p in folder.rglob("*.sl") if p.is_file())
    return label, folder, files[: args.limit] if args.limit else files


def par2(runs: list[Run], timeout: float) -> float:
    return statistics.fmean(r.seconds if r.status == "verified" else 2 * timeout for r in runs) if runs else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--track", choices=sorted(TRACKS), default="clia")
    ap.add_argument("--problems", help="a folder of .sl files instead of a track")
    ap.add_argument("--root", default=str(ROOT), help="the folder holding CLIA_Track and Inv_Track")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", help="write the per-problem rows here")
    ap.add_argument("--limit", type=int, help="only the first N files")
    ap.add_argument("--cvc5", default=shutil.which("cvc5") or "cvc5", help="the cvc5 binary")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(solve_in_child(args.child, args.timeout)))
        return
    if shutil.which(args.cvc5) is None and not Path(args.cvc5).is_file():
        sys.exit(f"vs_cvc5: no cvc5 binary at {args.cvc5!r}; see the docstring for how to install it")
    label, folder, files = files_of(args)
    tasks = [(f, s) for f in files for s in SOLVERS]

    def work(task: tuple[Path, str]) -> Run:
        path, solver = task
        if solver == "proofloop":
            run = run_proofloop(path, args.timeout)
        else:
            run = run_cvc5(path, args.timeout, args.cvc5)
        run.problem = path.relative_to(folder).as_posix()
        return run

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(work, tasks))
    solve_seconds = time.perf_counter() - started
    by_file = dict(zip(tasks, runs))
    runs = [recheck(by_file[(f, s)], f) for f, s in tasks]
    report(label, [f.relative_to(folder).as_posix() for f in files], runs, args, solve_seconds)


def report(label: str, names: list[str], runs: list[Run], args, solve_seconds: float) -> None:
    table = {(r.problem, r.solver): r for r in runs}
    print(f"{'problem':44s} {'proofloop':>22s} {'cvc5':>22s}")
    for name in names:
        cells = []
        for s in SOLVERS:
            r = table[(name, s)]
            cells.append(f"{r.status[:10]:>10s} {r.seconds:6.2f}s {r.size:4d}")
        print(f"{name[:44]:44s} {cells[0]:>22s} {cells[1]:>22s}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["problem", "solver", "status", "seconds", "size", "note"])
            for r in runs:
                writer.writerow([r.problem, r.solver, r.status, f"{r.seconds:.3f}", r.size, r.note])
    solved = {s: {r.problem for r in runs if r.solver == s and r.status == "verified"} for s in SOLVERS}
    both = solved["proofloop"] & solved["cvc5"]
    ratios = [table[(n, "proofloop")].seconds / max(table[(n, "cvc5")].seconds, 1e-3) for n in sorted(both)]
    failures = [r for r in runs if r.status == "recheck-failed"]
    unreadable = {s: sum(1 for r in runs if r.solver == s and r.status == "unreadable") for s in SOLVERS}
    print(f"track: {label}")
    print(f"timeout_s: {args.timeout:g}")
    print(f"jobs: {args.jobs}")
    print(f"wall_s: {solve_seconds:.1f}")
    for s in SOLVERS:
        mine = [r for r in runs if r.solver == s]
        print(f"par2_{s}: {par2(mine, args.timeout):.2f}")
        print(f"unreadable_{s}: {unreadable[s]}")
    print(f"only_proofloop: {' '.join(sorted(solved['proofloop'] - solved['cvc5'])) or '-'}")
    print(f"only_cvc5: {' '.join(sorted(solved['cvc5'] - solved['proofloop'])) or '-'}")
    print(f"both: {len(both)}")
    print(f"median_time_ratio: {statistics.median(ratios):.2f}" if ratios else "median_time_ratio: -")
    print(f"median_s_both: proofloop={statistics.median([table[(n, 'proofloop')].seconds for n in both]):.2f} "
          f"cvc5={statistics.median([table[(n, 'cvc5')].seconds for n in both]):.2f}" if both else "median_s_both: -")
    print(f"recheck_failures: {len(failures)}" + "".join(f"\n  {r.solver} {r.problem}: {r.note}" for r in failures))
    print(f"solved: proofloop={len(solved['proofloop'])} cvc5={len(solved['cvc5'])} total={len(names)}")


if __name__ == "__main__":
    main()
