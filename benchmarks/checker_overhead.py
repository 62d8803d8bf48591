"""Checker overhead: proofloop's full check of cvc5's answers against Z3 alone on the same query.

For each CLIA problem that proofloop loads and cvc5 solves, time
  proofloop: Z3Prover.check(problem, answer)  (parse, signature, grammar, terms, solve), and
  z3 alone:  z3.Solver.from_string(smt2) + check() on the equivalent SMT-LIB2 query:
             the declarations and helpers, the answer's define-funs,
             (assert (not (=> (and assumptions) (and constraints)))), (check-sat).
Both run in this process, warm (one untimed round first), with the same solver timeout and the
same global Z3 parameters; each side's time is the best of --repeat runs, interleaved so that
machine noise hits both. The totals count the problems both sides answered (proofloop verified,
Z3 alone unsat); those where either ran out of time are listed apart.

    .venv/bin/python benchmarks/checker_overhead.py [--track DIR] [--cvc5-timeout 20] [--budget 300]

Prints one line per problem and `checker_overhead: total_proofloop_s=... total_z3_s=... ratio=...`
(target: ratio <= 1.1), then the worst cases by ratio and by absolute time, and
`checker_overhead_cross_check: ... ratio_vs_z3=... ratio_vs_proofloop=...`: the cost of the check
with the cvc5 cross-check on. cvc5 answers with its binary when there is one, else through the
`cvc5` Python package in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACK = REPO.parent / "shared" / "benchmarks" / "sygus" / "CLIA_Track"


@dataclass
class Case:
    name: str
    problem: object
    answer: str
    smt2: str
    proofloop_s: float = float("inf")
    z3_s: float = float("inf")
    cross_s: float = float("inf")  # proofloop with the cvc5 cross-check
    answered: bool = False  # proofloop verified and Z3 alone said unsat, both within the timeout

    @property
    def ratio(self) -> float:
        return self.proofloop_s / self.z3_s if self.z3_s > 0 else float("inf")

    @property
    def ites(self) -> int:
        return len(re.findall(r"\(ite\b", self.answer))


# cvc5's SyGuS solver through its Python API (the `cvc5` package), for machines without the binary.
SYGUS_SCRIPT = """
import sys, cvc5
tm = cvc5.TermManager(); solver = cvc5.Solver(tm); solver.setOption("sygus", "true")
sm = cvc5.SymbolManager(tm); parser = cvc5.InputParser(solver, sm)
parser.setFileInput(cvc5.InputLanguage.SYGUS_2_1, sys.argv[1])
while not (cmd := parser.nextCommand()).isNull():
    sys.stdout.write(cmd.invoke(solver, sm))
"""


def cvc5_command(path: Path) -> list[str]:
    if shutil.which("cvc5"):
        return ["cvc5", "--lang=sygus2", str(path)]
    return [sys.executable, "-c", SYGUS_SCRIPT, str(path)]


def solve_with_cvc5(path: Path, timeout_s: float) -> str | None:
    """cvc5's define-funs for `path`, or None when it fails, times out or finds none."""
    try:
        out = subprocess.run(cvc5_command(path), capture_output=True, text=True, timeout=timeout_s).stdout
    except subprocess.TimeoutExpired:
        return None
    out = out.strip()
    # cvc5 1.0 prints "(\n(define-fun ...)\n...)"; older versions print the define-funs bare.
    if out.startswith("(") and not out.startswith("(define-fun"):
        out = out[1:].rstrip()
        out = out[:-1] if out.endswith(")") else out
    return out.strip() if "(define-fun" in out else None


def smt2_query(text: str, answer: str) -> str:
    """The SMT-LIB2 query Z3 alone answers: is there an input where `answer` breaks a constraint?"""
    from provers.z3.sexpr import to_text
    from provers.z3.sygus import parse_problem

    sp = parse_problem(text)
    lines = [f"(declare-fun {name} () {sort})" for name, sort in sp.variables]
    for h in sp.helpers:
        params = " ".join(f"({n} {s})" for n, s in h.params)
        lines.append(f"(define-fun {h.name} ({params}) {h.sort} {to_text(h.body, smtlib=True)})")
    lines.append(answer)
    goal = "(and true " + " ".join(to_text(c.term, smtlib=True) for c in sp.constraints) + ")"
    if sp.assumptions:
        assumed = "(and true " + " ".join(to_text(a.term, smtlib=True) for a in sp.assumptions) + ")"
        goal = f"(=> {assumed} {goal})"
    lines += [f"(assert (not {goal}))", "(check-sat)"]
    return "\n".join(lines)


def time_z3_alone(smt2: str, timeout_ms: int) -> tuple[float, str]:
    import z3

    started = time.perf_counter()
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.from_string(smt2)
    result = solver.check()
    return time.perf_counter() - started, str(result)


def time_proofloop(prover, case: Case, limits) -> tuple[float, str]:  # limits may ask for the cross-check
    started = time.perf_counter()
    verdict = prover.check(case.problem, case.answer, limits)
    return time.perf_counter() - started, verdict.status.value + (f" ({verdict.reason})" if verdict.reason else "")


def collect(
    track: Path, cvc5_timeout: float, budget_s: float, jobs: int, answers_file: Path | None = None,
    references: bool = False,
) -> tuple[list[Case], dict[str, int]]:
    """Load every problem of the track and ask cvc5 for answers, within the time budget.

    With `answers_file`, answers found before are read from it and new ones added, so later
    runs time the checkers without solving again.
    """
    from proofloop.errors import ProofloopError
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    counts = {"files": 0, "refused": 0, "unsolved": 0, "over_budget": 0}
    loaded = []
    for path in sorted(track.rglob("*.sl")):
        counts["files"] += 1
        try:
            loaded.append((path, prover.load(path)[0]))
        except ProofloopError:
            counts["refused"] += 1
    deadline = time.monotonic() + budget_s

    known = json.loads(answers_file.read_text()) if answers_file and answers_file.exists() else {}

    reference = {path: problem.reference for path, problem in loaded}

    def answer(path: Path) -> str | None:
        key = path.relative_to(track).as_posix()
        if key in known:
            return known[key]
        if references and reference[path]:
            return reference[path]
        left = deadline - time.monotonic()
        if left <= 1:
            counts["over_budget"] += 1
            return None
        found = solve_with_cvc5(path, min(cvc5_timeout, left))
        if found is not None:
            known[key] = found
        return found

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        answers = list(pool.map(answer, [path for path, _ in loaded]))
    if answers_file:
        answers_file.write_text(json.dumps(known, indent=1, sort_keys=True))
    cases = []
    for (path, problem), ans in zip(loaded, answers):
        if ans is None:
            counts["unsolved"] += 1
            continue
        cases.append(Case(path.stem, problem, ans, smt2_query(problem.text, ans)))
    return cases, counts


def measure(cases: list[Case], repeat: int, timeout_s: float) -> list[str]:
    """Time both sides, best of `repeat`, after one warm-up round; returns problems whose results differ."""
    from proofloop.types import CheckLimits
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    limits = CheckLimits(timeout_s=timeout_s)
    cross = CheckLimits(timeout_s=timeout_s, cross_check="cvc5")
    disagreements = []
    for case in cases:
        _, ours = time_proofloop(prover, case, limits)  # warm-up: every side, untimed
        _, z3_result = time_z3_alone(case.smt2, int(timeout_s * 1000))
        _, crossed = time_proofloop(prover, case, cross)
        case.answered = ours == "verified" and z3_result == "unsat" and crossed == "verified"
        if not case.answered:
            disagreements.append(f"{case.name}: proofloop {ours}, z3 alone {z3_result}, with cvc5 {crossed}")
        for _ in range(repeat):
            case.proofloop_s = min(case.proofloop_s, time_proofloop(prover, case, limits)[0])
            case.z3_s = min(case.z3_s, time_z3_alone(case.smt2, int(timeout_s * 1000))[0])
            case.cross_s = min(case.cross_s, time_proofloop(prover, case, cross)[0])
    return disagreements


def report(cases: list[Case], counts: dict[str, int], disagreements: list[str], worst: int) -> None:
    for c in cases:
        print(
            f"{c.name:32s} proofloop_s={c.proofloop_s:8.4f} z3_s={c.z3_s:8.4f} ratio={c.ratio:5.2f} "
            f"cross_checked_s={c.cross_s:8.4f} "
            f"answer_chars={len(c.answer)} ites={c.ites}"
        )
    print(
        f"problems: files={counts['files']} refused_by_loader={counts['refused']} "
        f"unsolved_by_cvc5={counts['unsolved']} (over_budget={counts['over_budget']}) measured={len(cases)}"
    )
    for line in disagreements:
        print(f"not in the totals (no answer from one side within the timeout): {line}")
    counted = [c for c in cases if c.answered]
    if not counted:
        print("checker_overhead: no cvc5 answer was checked by both sides; nothing measured")
        return
    total_ours = sum(c.proofloop_s for c in counted)
    total_z3 = sum(c.z3_s for c in counted)
    ratios = sorted(c.ratio for c in counted)
    by_ratio = sorted(counted, key=lambda c: c.ratio, reverse=True)[:worst]
    by_time = sorted(counted, key=lambda c: c.proofloop_s, reverse=True)[:worst]
    print("worst ratios:  " + ", ".join(f"{c.name} {c.ratio:.2f}x ({c.ites} ites)" for c in by_ratio))
    print("largest times: " + ", ".join(f"{c.name} {c.proofloop_s:.3f}s/{c.z3_s:.3f}s ({c.ites} ites)"
                                        for c in by_time))
    print(
        f"checker_overhead: total_proofloop_s={total_ours:.4f} total_z3_s={total_z3:.4f} "
        f"ratio={total_ours / total_z3:.3f} problems={len(counted)} median_ratio={ratios[len(ratios) // 2]:.2f}"
    )
    total_cross = sum(c.cross_s for c in counted)
    print(
        f"checker_overhead_cross_check: total_cross_checked_s={total_cross:.4f} "
        f"ratio_vs_z3={total_cross / total_z3:.3f} ratio_vs_proofloop={total_cross / total_ours:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", type=Path, default=DEFAULT_TRACK, help="Folder of .sl files (CLIA_Track).")
    ap.add_argument("--cvc5-timeout", type=float, default=20.0, help="Seconds cvc5 may spend per problem.")
    ap.add_argument("--budget", type=float, default=300.0, help="Seconds for all cvc5 runs together.")
    ap.add_argument("--jobs", type=int, default=2, help="cvc5 processes at once.")
    ap.add_argument("--repeat", type=int, default=3, help="Timed runs per side; the best counts.")
    ap.add_argument("--timeout", type=float, default=10.0, help="Solver timeout per check, seconds.")
    ap.add_argument("--worst", type=int, default=5, help="How many worst cases to list.")
    ap.add_argument("--answers", type=Path, help="A JSON file of cvc5 answers, read and extended.")
    ap.add_argument(
        "--references", action="store_true",
        help="Check each problem's ';; reference:' solution where it has one (the bundled problems) instead of "
        "asking cvc5.",
    )
    args = ap.parse_args(argv)
    try:
        import cvc5  # noqa: F401  (the SyGuS solver when there is no cvc5 binary, and the cross-check)
    except ImportError:
        print("checker_overhead: cvc5 is not installed (pip install cvc5)", file=sys.stderr)
        return 2
    if not args.track.is_dir():
        print(f"checker_overhead: {args.track} is not a folder", file=sys.stderr)
        return 2
    cases, counts = collect(args.track, args.cvc5_timeout, args.budget, args.jobs, args.answers, args.references)
    disagreements = measure(cases, args.repeat, args.timeout)
    report(cases, counts, disagreements, args.worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
