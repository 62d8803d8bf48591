"""REPL pool mechanics, driven by tests/lean_repl_double.py, a TEST DOUBLE of the Lean REPL.

The double answers the REPL's protocol with canned messages; it checks nothing. These tests
show that framing, timeouts, restarts, maximum uses, the memory cap and crash backoff work,
and that verdicts follow from the REPL's answers. They are no evidence that Lean checking
works: that is what the `lean`-marked tests in test_lean_real.py are for.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from proofloop.errors import CheckerCrash, ProblemFormatError
from proofloop.types import CheckLimits, Status
from provers.lean.pool import HeaderError, Launcher, ReplPool, ReplTimeout
from provers.lean.protocol import CommandResponse
from provers.lean.prover import LeanProver
from provers.lean.toolchain import LeanConfig

DOUBLE = Path(__file__).with_name("lean_repl_double.py")
FAST = CheckLimits(timeout_s=5.0)
HEADER = "import Mathlib\naxiom double_axiom : False\n\n"
STATEMENT = "theorem t (a b : Nat) : a + b = b + a :="


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "starts.log"


def launcher(log: Path, memory_mb: int = 0, **env: str) -> Launcher:
    return Launcher((sys.executable, str(DOUBLE)), {**os.environ, "LEAN_DOUBLE_LOG": str(log), **env}, memory_mb)


def starts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def prover_with_double(log: Path, memory_mb: int = 0, **config) -> LeanProver:
    prover = LeanProver(LeanConfig(restart_backoff_s=0.05, **config))
    prover.make_pool(launcher(log, memory_mb, LEAN_DOUBLE_MARK=str(log.with_suffix(".mark"))))
    return prover


@pytest.fixture
def problem(tmp_path):
    return LeanProver().from_text(HEADER + STATEMENT, id="t", source="double.lean")


def test_checks_share_one_process_and_one_header(log, problem):
    prover = prover_with_double(log)
    verdicts = [prover.check(problem, "by omega", FAST) for _ in range(3)]
    assert [v.status for v in verdicts] == [Status.VERIFIED] * 3
    assert len(starts(log)) == 1
    assert verdicts[0].checker == "lean" and verdicts[0].checker_version.endswith(f"; rules {prover.rules_version()}")
    prover.close()


def test_verdicts_follow_the_repl_answers(log, problem):
    prover = prover_with_double(log)
    error = prover.check(problem, "by double_error", FAST)
    assert (error.status, error.reason) == (Status.REJECTED, "lean")
    assert error.counterexample["messages"][0]["severity"] == "error"
    axiom = prover.check(problem, "double_axiom.elim", FAST)
    assert (axiom.status, axiom.reason) == (Status.REJECTED, "axioms")
    assert "double_axiom" in axiom.message
    guarded = prover.check(problem, "by sorry", FAST)
    assert (guarded.status, guarded.reason) == (Status.REJECTED, "guard:sorry")
    assert prover.check(problem, "by omega", FAST).status is Status.VERIFIED
    prover.close()


def test_timeout_kills_the_process_and_the_next_check_gets_a_fresh_one(log, problem):
    prover = prover_with_double(log)
    assert prover.check(problem, "by omega", FAST).verified
    pid = int(starts(log)[0].split()[1])
    began = time.monotonic()
    verdict = prover.check(problem, "by double_hang", CheckLimits(timeout_s=0.5))
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "timeout")
    assert time.monotonic() - began < 5.0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert prover.check(problem, "by omega", FAST).verified
    assert len(starts(log)) == 2
    prover.close()


def test_process_is_replaced_after_max_uses(log, problem):
    prover = prover_with_double(log, max_uses=2)
    for _ in range(5):
        assert prover.check(problem, "by omega", FAST).verified
    assert len(starts(log)) == 3
    prover.close()


def test_memory_cap_ends_a_hungry_check_as_unknown(log, problem):
    prover = prover_with_double(log, memory_mb=256)
    verdict = prover.check(problem, "by double_oom", FAST)
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "resource")
    assert "out of memory" in verdict.message
    assert prover.check(problem, "by omega", FAST).verified
    prover.close()


def test_a_crash_is_retried_on_a_fresh_process(log, problem):
    prover = prover_with_double(log)
    assert prover.check(problem, "by double_crash_once", FAST).verified
    assert len(starts(log)) == 2
    prover.close()


def test_repeated_crashes_back_off_then_raise_checker_crash(log, problem):
    prover = LeanProver(LeanConfig(max_restarts=2, restart_backoff_s=0.1))
    prover.make_pool(launcher(log, LEAN_DOUBLE_CRASH_ON_START="1"))
    began = time.monotonic()
    with pytest.raises(CheckerCrash, match="died 3 times in a row.*crashing on start"):
        prover.check(problem, "by omega", FAST)
    assert time.monotonic() - began >= 0.1 + 0.2  # waits of 0.1 s, then 0.2 s
    assert len(starts(log)) == 3
    prover.close()


def test_header_errors_are_problem_errors(log):
    prover = prover_with_double(log)
    bad = prover.from_text("import Mathlib\ndef DOUBLE_HEADER_ERROR := 1\n" + STATEMENT, id="t", source="bad.lean")
    with pytest.raises(ProblemFormatError, match="bad.lean:3: the header of t does not elaborate: .*type mismatch"):
        prover.check(bad, "by omega", FAST)
    prover.close()


def test_slow_header_raises_checker_crash_naming_the_setting(log):
    prover = prover_with_double(log, header_timeout_s=0.5)
    slow = prover.from_text("import DOUBLE_SLOW_HEADER\n" + STATEMENT, id="t")
    with pytest.raises(CheckerCrash, match="header_timeout_s"):
        prover.check(slow, "by omega", FAST)
    prover.close()


def test_repl_runs_in_a_temporary_directory_that_is_removed(log, problem):
    prover = prover_with_double(log)
    assert prover.check(problem, "by omega", FAST).verified
    cwd = Path(starts(log)[0].split()[2])
    assert cwd.name.startswith("proofloop-lean-") and str(cwd).startswith(tempfile.gettempdir())
    assert cwd.is_dir()
    prover.close()
    assert not cwd.exists()


def test_pool_keys_processes_by_imports(log):
    pool = ReplPool(launcher(log), size=1)
    for imports in ("import A", "import B", "import A"):
        env = pool.run(imports, lambda w: w.header_env("", 5.0))
        assert env == 0
    assert len(starts(log)) == 3  # one process slot: each switch of imports replaces it
    pool.close()
    pool = ReplPool(launcher(log), size=2)
    for imports in ("import A", "import B", "import A", "import B"):
        pool.run(imports, lambda w: w.header_env("", 5.0))
    assert len(starts(log)) == 5
    pool.close()


def test_header_environments_are_cached_per_process(log):
    pool = ReplPool(launcher(log), size=1, header_cache=2)
    with pool.worker("import A") as w:
        first = w.header_env("def x := 1\n", 5.0)
        assert w.header_env("def x := 1\n", 5.0) == first
        w.header_env("def y := 1\n", 5.0)
        w.header_env("def z := 1\n", 5.0)
        assert w.header_env("def x := 1\n", 5.0) != first  # evicted, elaborated again
        with pytest.raises(HeaderError):
            w.header_env("def DOUBLE_HEADER_ERROR := 1\n", 5.0)
    pool.close()


def test_raw_requests_time_out_and_kill(log):
    pool = ReplPool(launcher(log), size=1)
    with pytest.raises(ReplTimeout):
        pool.run("", lambda w: w.command("double_hang", w.header_env("", 5.0), 0.3))
    resp = pool.run("", lambda w: w.command("theorem u : True := trivial", w.header_env("", 5.0), 5.0))
    assert isinstance(resp, CommandResponse) and resp.env is not None
    pool.close()


def test_threads_share_the_pool(log, problem):
    prover = prover_with_double(log, processes=2)
    results: list[Status] = []
    threads = [
        threading.Thread(target=lambda: results.append(prover.check(problem, "by omega", FAST).status))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [Status.VERIFIED] * 6
    assert len(starts(log)) <= 2
    prover.close()


def test_warm_elaborates_each_header_once(log):
    prover = prover_with_double(log)
    problems = [
        prover.from_text(f"import Mathlib\ndef h{i % 2} := 1\n" + STATEMENT.replace(" t ", f" t{i} "), id=f"t{i}")
        for i in range(4)
    ]
    assert prover.warm(problems) == 2
    assert all(prover.check(p, "by omega", FAST).verified for p in problems)
    assert len(starts(log)) == 1
    prover.close()
