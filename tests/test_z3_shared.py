"""The shared SyGuS benchmarks (CLIA and Inv tracks): every file loads or is refused cleanly."""

from __future__ import annotations

import random

import pytest
import z3

from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover
from provers.z3.checker import compile_text
from provers.z3.survey import main, survey

pytestmark = pytest.mark.shared


def test_every_shared_benchmark_loads_or_is_refused(shared_benchmarks, capsys):
    result = survey(shared_benchmarks)
    total = len(result.loaded) + len(result.refused) + len(result.crashed)
    print(f"\nloaded: {len(result.loaded)}  refused: {len(result.refused)}  ({result.seconds:.1f} s)")
    for message, count in result.reasons():
        print(f"  {count:5d}  {message}")
    assert total == 946
    assert result.crashed == {}
    assert len(result.loaded) >= 900


def test_survey_command_prints_counts(shared_benchmarks, capsys):
    assert main([str(shared_benchmarks / "CLIA_Track")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "loaded: 88" and out[1] == "refused: 0"
    assert main(["/nonexistent"]) == 2


def test_z3_reads_the_prelude_of_a_sample_of_benchmarks(shared_benchmarks):
    files = sorted(shared_benchmarks.rglob("*.sl"))
    for path in files[::25]:
        compiled = compile_text(path.read_text())
        parsed = z3.parse_smt2_string(compiled.prelude, ctx=z3.Context())
        assert len(parsed) == len(compiled.problem.constraints) + len(compiled.problem.assumptions), path


def test_clia_benchmarks_check_sampled_candidates(shared_benchmarks):
    prover = Z3Prover()
    rng = random.Random(5)
    for path in sorted((shared_benchmarks / "CLIA_Track").rglob("*.sl"))[::8]:
        (problem,) = prover.load(path)
        for candidate in prover.sample(problem, 2, rng, max_size=8):
            verdict = prover.check(problem, candidate, CheckLimits(timeout_s=2))
            assert verdict.status in (Status.VERIFIED, Status.REJECTED, Status.UNKNOWN)
            assert verdict.reason not in ("parse", "signature", "scope", "logic", "grammar"), (path, candidate, verdict)


def test_known_solution_of_a_clia_benchmark(shared_benchmarks):
    prover = Z3Prover()
    (problem,) = prover.load(shared_benchmarks / "CLIA_Track" / "from_2018" / "jmbl_fg_max2.sl")
    assert prover.check(problem, "(define-fun mux_2 ((x Int) (y Int)) Int (ite (>= x y) x y))").verified
    wrong = prover.check(problem, "(define-fun mux_2 ((x Int) (y Int)) Int (ite (>= x y) y x))")
    assert wrong.status is Status.REJECTED and wrong.reason == "counterexample"
