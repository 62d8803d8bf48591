"""The batch executors: order, agreement with in-process checking, dead workers, memory limits."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from proofloop import prover as prover_registry
from proofloop.errors import CheckerCrash, ConfigError, ProblemFormatError, ToolchainMissing
from proofloop.executors import CheckPool, check_batch, check_one, hard_deadline_s, memory_limit
from proofloop.prover import Prover
from proofloop.types import CheckLimits, Problem, Status, Verdict


class FakeProver(Prover):
    """A prover for fault injection: a problem is an integer; the candidate must spell it.

    Candidates with a special meaning: "kill" kills the checking process, "hog" allocates
    2 GB, "sleep:S" sleeps S seconds, "pid:DIR:S" writes the checking process's id into DIR
    and sleeps S seconds, "crash" raises CheckerCrash, "badformat" raises ProblemFormatError.
    Any of them followed by "#..." spells a distinct candidate with the same meaning.
    """

    name = "fake"
    suffixes = (".fake",)
    salt = ""  # set through `configure`; every verdict's message shows it

    def configure(self, settings) -> None:
        self.salt = str(settings.get("salt", ""))

    def settings(self):
        return {"salt": self.salt} if self.salt else {}

    def version(self) -> str:
        return "fake-1"

    def load(self, path: Path) -> list[Problem]:
        return [self.from_text(Path(path).read_text(), id=Path(path).stem)]

    def from_text(self, text, *, id, source="", split="train", reference=None) -> Problem:
        return Problem(id=id, prover=self.name, text=text, source=source, split=split,
                       reference=reference, data=int(text), meta={"pid": os.getpid()})

    def prompt(self, problem: Problem) -> str:
        return f"spell {problem.text}"

    def extract(self, completion: str, prompt: str = "") -> str:
        return completion.strip()

    def target(self, prompt: str, candidate: str) -> str:
        return candidate

    def canonical(self, candidate: str) -> str:
        return candidate.strip()

    def check(self, problem: Problem, candidate, limits: CheckLimits) -> Verdict:
        if isinstance(candidate, bytes):
            candidate = candidate.decode("utf-8", "replace")
        candidate = candidate.partition("#")[0]
        if candidate.startswith("pid:"):
            _, directory, seconds = candidate.split(":")
            Path(directory, str(os.getpid())).touch()
            time.sleep(float(seconds))
            candidate = "pid"
        if candidate == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if candidate == "hog":
            _ = bytearray(2 * 2**30)
        if candidate.startswith("sleep:"):
            time.sleep(float(candidate.split(":")[1]))
        if candidate == "crash":
            raise CheckerCrash("fake checker crashed")
        if candidate == "badformat":
            raise ProblemFormatError("p.fake", 3, "not a number")
        ok = candidate == str(problem.data)
        return Verdict(
            status=Status.VERIFIED if ok else Status.REJECTED,
            checker=self.name,
            checker_version=self.version(),
            reason="" if ok else "mismatch",
            message=f"checked in {os.getpid()}" + (f" with {self.salt}" if self.salt else ""),
        )


@pytest.fixture
def fake(monkeypatch) -> FakeProver:
    # Workers build the parent's prover class by module path; this module is importable there
    # because pytest puts tests/ on sys.path, which spawned workers inherit.
    monkeypatch.setitem(prover_registry.registry(), "fake", f"{__name__}:FakeProver")
    prover = prover_registry.get_prover("fake")
    monkeypatch.setattr(prover, "salt", "")
    return prover


def _items(fake: FakeProver, n: int, special: dict[int, str] | None = None):
    problems = [fake.from_text(str(k), id=f"p{k}") for k in range(7)]
    items = []
    for i in range(n):
        p = problems[i % len(problems)]
        cand = str(p.data) if i % 3 else str(p.data + 1)
        items.append((p, (special or {}).get(i, cand)))
    return items


def _expected(items):
    return [Status.VERIFIED if c == p.text else Status.REJECTED for p, c in items]


LIMITS = CheckLimits(timeout_s=2, memory_mb=512)


def test_order_preserved_and_progress_counts_every_item(fake):
    items = _items(fake, 60)
    seen = []
    verdicts = check_batch(items, LIMITS, workers=2, progress=seen.append)
    assert [v.status for v in verdicts] == _expected(items)
    assert sum(seen) == 60
    assert f"checked in {os.getpid()}" not in {v.message for v in verdicts}  # checked in workers


def test_pool_is_kept_between_batches_until_closed(fake):
    items = _items(fake, 30)
    with CheckPool("local", workers=2) as pool:
        first = {v.message for v in pool.check_batch(items, LIMITS)}
        again = {v.message for v in pool.check_batch(items, LIMITS)}
        assert again & first  # worker processes of the first batch checked the second
        other = {v.message for v in pool.check_batch(items, CheckLimits(timeout_s=2, memory_mb=300))}
        assert not other & first  # other settings (memory limit) need other workers
        pool.close()
        after = {v.message for v in pool.check_batch(items, CheckLimits(timeout_s=2, memory_mb=300))}
        assert not after & other
    assert pool._local is None  # leaving the block stopped the workers


def test_two_pools_keep_their_own_workers(fake):
    items = _items(fake, 30)
    with CheckPool("local", workers=2) as one, CheckPool("local", workers=2) as two:
        first = {v.message for v in one.check_batch(items, LIMITS)}
        second = {v.message for v in two.check_batch(items, LIMITS)}
        assert not first & second
        assert first & {v.message for v in one.check_batch(items, LIMITS)}


def test_a_batch_after_a_killed_worker_starts_fresh_workers(fake):
    with CheckPool("local", workers=2) as pool:
        pool.check_batch(_items(fake, 10, {4: "kill"}), LIMITS)
        verdicts = pool.check_batch(_items(fake, 10), LIMITS)
    assert [v.status for v in verdicts] == _expected(_items(fake, 10))


def test_pool_agrees_with_in_process(fake):
    items = _items(fake, 25)
    pooled = check_batch(items, LIMITS, workers=2)
    single = check_batch(items, LIMITS, workers=1)
    assert [v.status for v in pooled] == [v.status for v in single] == _expected(items)
    assert [v.reason for v in pooled] == [v.reason for v in single]
    assert {v.message for v in single} == {f"checked in {os.getpid()}"}


def test_problems_are_rebuilt_once_per_worker(fake):
    # meta["pid"] is set by from_text; the worker keeps what it built, so the parent's
    # Problem.data is never needed there and each problem is parsed once per worker.
    items = _items(fake, 40)
    verdicts = check_batch(items, LIMITS, workers=2)
    assert all(v.status in (Status.VERIFIED, Status.REJECTED) for v in verdicts)
    from proofloop import checkwork

    assert checkwork._worker_side == []  # nothing was loaded in the parent


def test_killed_worker_gives_unknown_for_its_item_and_the_rest_are_checked(fake):
    items = _items(fake, 40, {17: "kill"})
    verdicts = check_batch(items, LIMITS, workers=2)
    assert verdicts[17].status is Status.UNKNOWN
    assert verdicts[17].reason == "resource"
    assert "died" in verdicts[17].message
    assert verdicts[17].checker == "fake" and verdicts[17].checker_version == "fake-1"
    rest = [v.status for i, v in enumerate(verdicts) if i != 17]
    assert rest == [s for i, s in enumerate(_expected(items)) if i != 17]


def test_two_killers_in_one_batch(fake):
    items = _items(fake, 30, {3: "kill", 4: "kill", 29: "kill"})
    verdicts = check_batch(items, LIMITS, workers=2)
    assert [i for i, v in enumerate(verdicts) if v.status is Status.UNKNOWN] == [3, 4, 29]
    assert all(verdicts[i].reason == "resource" for i in (3, 4, 29))


def test_memory_limit_makes_a_hog_unknown_in_the_pool(fake):
    items = _items(fake, 10, {5: "hog"})
    verdicts = check_batch(items, CheckLimits(timeout_s=2, memory_mb=256), workers=2)
    assert verdicts[5].status is Status.UNKNOWN and verdicts[5].reason == "resource"
    assert "256 MB" in verdicts[5].message
    assert [v.status for i, v in enumerate(verdicts) if i != 5] == [
        s for i, s in enumerate(_expected(items)) if i != 5
    ]


def test_memory_limit_in_process_is_lifted_afterwards(fake):
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    problem = fake.from_text("4", id="p4")
    hog = check_one(problem, "hog", CheckLimits(memory_mb=256))
    assert (hog.status, hog.reason) == (Status.UNKNOWN, "resource")
    assert check_one(problem, "4", CheckLimits(memory_mb=256)).status is Status.VERIFIED
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    _ = bytearray(300 * 2**20)  # the limit no longer applies


def test_memory_limit_never_loosens_an_outer_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with memory_limit(4096):
        inner_soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        with memory_limit(1 << 20):
            assert resource.getrlimit(resource.RLIMIT_AS)[0] == inner_soft
    assert resource.getrlimit(resource.RLIMIT_AS) == (soft, hard)


def test_checker_crash_propagates_with_its_type(fake):
    with pytest.raises(CheckerCrash, match="fake checker crashed"):
        check_batch(_items(fake, 12, {6: "crash"}), LIMITS, workers=2)


def test_problem_format_error_from_a_worker_keeps_its_fields(fake):
    with pytest.raises(ProblemFormatError) as info:
        check_batch(_items(fake, 12, {2: "badformat"}), LIMITS, workers=2)
    assert (info.value.path, info.value.line, str(info.value)) == ("p.fake", 3, "p.fake:3: not a number")


def test_check_past_the_hard_deadline_is_stopped(fake):
    limits = CheckLimits(timeout_s=0.2, memory_mb=512)
    items = _items(fake, 6, {1: f"sleep:{hard_deadline_s(limits) + 30}"})
    started = time.monotonic()
    verdicts = check_batch(items, limits, workers=2)
    assert time.monotonic() - started < hard_deadline_s(limits) + 10
    assert (verdicts[1].status, verdicts[1].reason) == (Status.UNKNOWN, "timeout")
    assert [v.status for i, v in enumerate(verdicts) if i != 1] == [
        s for i, s in enumerate(_expected(items)) if i != 1
    ]


def test_empty_batch_and_bad_worker_count(fake):
    assert check_batch([], LIMITS, workers=2) == []
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        CheckPool("local", workers=0)


def test_executor_by_name(fake):
    items = _items(fake, 4)
    assert [v.status for v in CheckPool("local", workers=1).check_batch(items, LIMITS)] == _expected(items)
    with pytest.raises(ConfigError, match="executor: unknown executor 'slurm'"):
        CheckPool("slurm")


def test_ray_missing_is_a_clear_error(fake, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ToolchainMissing, match=r"executor 'ray' needs ray"):
        CheckPool("ray").check_batch(_items(fake, 2), LIMITS)


# ---- with the real Z3 prover ---------------------------------------------------------------------

SHIFT = """\
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (=> (= x {k}) (= (f x) {k2})))
(check-synth)
"""


def _z3_items():
    from provers.z3 import Z3Prover

    z3p = Z3Prover()
    items = []
    for k in range(12):
        problem = z3p.from_text(SHIFT.format(k=k, k2=k + 1), id=f"shift{k}")
        items += [
            (problem, "(define-fun f ((x Int)) Int (+ x 1))"),
            (problem, "(define-fun f ((x Int)) Int x)"),
            (problem, b"(define-fun f ((x Int)) Int (+ x \xff))"),
            (problem, "(define-fun f ((x Int)) Int (+ x 1)) (assert false)"),
        ]
    return items


def test_z3_pool_matches_in_process_in_order():
    items = _z3_items()
    pooled = check_batch(items, CheckLimits(timeout_s=5), workers=2)
    single = check_batch(items, CheckLimits(timeout_s=5), workers=1)

    def key(v):
        return (v.status, v.reason, v.counterexample, v.checker, v.checker_version)

    assert [key(v) for v in pooled] == [key(v) for v in single]
    assert [v.status for v in pooled[:4]] == [Status.VERIFIED, Status.REJECTED, Status.REJECTED, Status.REJECTED]
    # Each wrong candidate's counterexample is its own problem's x = k: order is kept.
    assert [pooled[4 * k + 1].counterexample["values"] for k in range(12)] == [{"x": str(k)} for k in range(12)]


def test_workers_check_with_the_settings_the_parent_was_configured_with(fake):
    items = _items(fake, 8)
    with CheckPool("local", workers=2) as pool:
        plain = pool.check_batch(items, LIMITS)
        fake.configure({"salt": "pepper"})
        salted = pool.check_batch(items, LIMITS)  # the same warm workers rebuild their prover
    assert not any("pepper" in v.message for v in plain)
    assert all(v.message.endswith("with pepper") for v in salted)
    assert all(f"checked in {os.getpid()}" not in v.message for v in salted)
