"""What a check is, wherever it runs: the work that travels to a worker, and how a worker does it.

A check runs in this process (`check_one`), in a local pool worker or in a Ray task; all of them
go through `check_item`, which turns running out of memory or past the hard deadline into
`unknown` verdicts, and `WorkerSide`, which builds the provers (with the parent's settings) and
rebuilds problems from their text. `BatchRun` is the bookkeeping a local and a Ray batch share:
the keys and specs that travel, one verdict per item (the first wins) and the verdicts for an
item whose process died or overran. proofloop.executors (local processes) and
proofloop.raycheck (Ray) build on this module; it imports neither.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import resource
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from proofloop.errors import CheckerCrash, ProofloopError
from proofloop.prover import Prover, checker_version, get_prover
from proofloop.types import CheckLimits, Problem, Status, Verdict

Candidate = str | bytes
Item = tuple[Problem, Candidate]
Progress = Callable[[int], None]
ProblemKey = tuple[str, str]
Task = tuple[int, ProblemKey, Candidate]
# Loaded problems a worker keeps; a batch is usually grouped by problem, so this rarely misses.
_CACHE_SIZE = 256
_MAX_CHUNK = 16
# How often a batch run looks at its running checks, in seconds.
POLL_S = 0.25


def check_one(problem: Problem, candidate: Candidate, limits: CheckLimits) -> Verdict:
    """Check one candidate in this process, under the limits a pool worker keeps: memory bounded
    by `limits.memory_mb`, and (in the main thread) interrupted at `hard_deadline_s`."""
    prover = get_prover(problem.prover)
    with memory_limit(limits.memory_mb), hard_deadline(hard_deadline_s(limits)) as restart:
        restart()
        return check_item(prover, problem, candidate, limits)


def check_item(prover: Prover, problem: Problem, candidate: Candidate, limits: CheckLimits) -> Verdict:
    """`prover.check`, with running out of memory or past the hard deadline turned into `unknown`
    verdicts; the one place every check (in this process, a pool worker, a Ray task) goes through."""
    started = time.perf_counter()
    try:
        return prover.check(problem, candidate, limits)
    except MemoryError:
        return _out_of_memory(prover, limits, time.perf_counter() - started)
    except CheckOverran:
        message = f"the check ran past the hard limit of {hard_deadline_s(limits):g} s and was interrupted"
        return resource_verdict(
            prover, message, time.perf_counter() - started, reason="timeout", cross_check=limits.cross_check
        )


@contextlib.contextmanager
def hard_deadline(seconds: float) -> Iterator[Callable[[], None]]:
    """Raise CheckOverran in this thread `seconds` after each call of the yielded restart; only in
    the main thread (where signals arrive), elsewhere the yielded restart does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def overran(signum: int, frame: Any) -> None:
        raise CheckOverran()

    previous = signal.signal(signal.SIGALRM, overran)
    try:
        yield lambda: signal.setitimer(signal.ITIMER_REAL, seconds)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


ADDRESS_SPACE_ALLOWANCE_MB = 256


@contextlib.contextmanager
def memory_limit(memory_mb: int | None) -> Iterator[None]:
    """Let this process map at most `memory_mb` more than it has now, until the block ends.

    The limit is RLIMIT_AS relative to the current address space, so a process that already
    maps a lot (torch, a model) can still check; only the soft limit moves, so it is restored.
    """
    if not memory_mb or memory_mb <= 0:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    # Address space is not memory: a new thread reserves its stack and a malloc arena (tens of
    # MB, mostly never touched), and a solver that cannot start its timer thread aborts the
    # whole process. The allowance keeps small limits a verdict; the prover's own memory limit
    # (Z3's memory_max_size) holds the solver to `memory_mb`.
    headroom = memory_mb + ADDRESS_SPACE_ALLOWANCE_MB
    resource.setrlimit(resource.RLIMIT_AS, (headroom_limit(headroom, soft, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def resource_verdict(
    prover: Prover, message: str, seconds: float = 0.0, reason: str = "resource", cross_check: str = ""
) -> Verdict:
    """An `unknown` verdict for a check that ran out of memory, time or its process."""
    return Verdict(
        status=Status.UNKNOWN,
        checker=prover.name,
        checker_version=checker_version(prover, cross_check),
        seconds=round(seconds, 6),
        reason=reason,
        message=message,
    )


def hard_deadline_s(limits: CheckLimits) -> float:
    """Wall-clock seconds after which the executor stops a check the prover did not stop."""
    return limits.timeout_s * 1.5 + 5.0


class CheckOverran(BaseException):
    """Raised inside a worker (by an alarm) when a check runs past `hard_deadline_s`.

    A BaseException, so that a prover's own `except Exception` does not swallow it.
    """


def _out_of_memory(prover: Prover, limits: CheckLimits, seconds: float) -> Verdict:
    message = f"the check ran out of memory (limit {limits.memory_mb} MB)"
    return resource_verdict(prover, message, seconds, cross_check=limits.cross_check)


def headroom_limit(memory_mb: int, soft: int, hard: int) -> int:
    """RLIMIT_AS that lets this process map `memory_mb` more than now, within the limits set outside."""
    import psutil

    wanted = psutil.Process().memory_info().vms + memory_mb * 2**20
    for bound in (soft, hard):  # never loosen a limit someone set outside
        if bound != resource.RLIM_INFINITY:
            wanted = min(wanted, bound)
    return wanted


# ---- what travels to a worker, and the worker side -------------------------------------------


@dataclass(frozen=True)
class Spec:
    """Enough to rebuild a Problem in another process (its parsed `data` is not sent)."""

    prover: str
    id: str
    text: str
    source: str
    split: str
    reference: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, p: Problem) -> "Spec":
        return cls(p.prover, p.id, p.text, p.source, p.split, p.reference, dict(p.meta))


@dataclass(frozen=True)
class Raised:
    """A ProofloopError raised in a worker, carried back as data (its __init__ may not unpickle)."""

    cls: type
    message: str
    attrs: dict[str, Any]

    def rebuild(self) -> ProofloopError:
        exc = self.cls.__new__(self.cls)
        Exception.__init__(exc, self.message)
        exc.__dict__.update(self.attrs)
        return exc


@dataclass(frozen=True)
class ProverTarget:
    """How a worker builds the prover this process uses under a name: its class and the settings
    it was configured with (`Prover.settings`, applied with `configure`)."""

    target: str  # "module:Class"
    settings_json: str = ""

    def build(self) -> Prover:
        module, _, attr = self.target.partition(":")
        prover = getattr(importlib.import_module(module), attr)()
        if self.settings_json:
            prover.configure(json.loads(self.settings_json))
        return prover


def prover_targets(names: Sequence[str]) -> dict[str, ProverTarget]:
    """name -> how to build, in a worker, the prover this process uses under that name."""
    out = {}
    for name in names:
        prover = get_prover(name)
        cls = type(prover)
        settings = prover.settings()
        out[name] = ProverTarget(f"{cls.__module__}:{cls.__qualname__}", json.dumps(settings, sort_keys=True) if settings else "")
    return out


class WorkerSide:
    """What one worker process keeps between tasks: the provers and the problems it built.

    Provers are built from the parent's classes (so a worker checks with exactly those) and
    problems are rebuilt from their text once and kept (LRU). One instance lives in each worker
    process (`in_worker()`); the parent process never fills it.
    """

    def __init__(self) -> None:
        self.provers: dict[str, Prover] = {}
        self.targets: dict[str, ProverTarget] = {}
        self.problems: OrderedDict[ProblemKey, Problem] = OrderedDict()
        self.slot = -1
        self.state: Any = None  # a local pool worker's view of what it is checking (proofloop.executors)

    def build_provers(self, targets: dict[str, ProverTarget]) -> None:
        for name, target in targets.items():
            if self.targets.get(name) != target:
                self.provers[name] = target.build()
                self.targets[name] = target
                self.problems.clear()

    def problem(self, key: ProblemKey, spec: Spec) -> Problem:
        problem = self.problems.get(key)
        if problem is not None:
            self.problems.move_to_end(key)
            return problem
        prover = self.provers[spec.prover]
        problem = prover.from_text(spec.text, id=spec.id, source=spec.source, split=spec.split, reference=spec.reference)
        if spec.meta:
            problem = replace(problem, meta={**problem.meta, **spec.meta})
        self.problems[key] = problem
        if len(self.problems) > _CACHE_SIZE:
            self.problems.popitem(last=False)
        return problem

    def check_tasks(
        self, tasks: list[Task], specs: dict[ProblemKey, Spec], limits: CheckLimits, on_start=None
    ) -> list[Verdict] | Raised:
        """Check tasks one by one in this process; a ProofloopError comes back as data."""
        verdicts = []
        for index, key, candidate in tasks:
            if on_start:
                on_start(index)
            try:
                verdicts.append(check_item(self.provers[key[0]], self.problem(key, specs[key]), candidate, limits))
            except ProofloopError as e:
                return Raised(type(e), str(e), dict(e.__dict__))
        return verdicts


_worker_side: list[WorkerSide] = []  # at most one, created on first use in each worker process


def in_worker() -> WorkerSide:
    """This worker process's WorkerSide."""
    if not _worker_side:
        _worker_side.append(WorkerSide())
    return _worker_side[0]


class BatchRun:
    """One batch, whatever runs it: the items, their verdicts so far, and what travels."""

    def __init__(self, items: Sequence[Item], limits: CheckLimits, progress: Progress | None):
        self.items, self.limits, self.progress = items, limits, progress
        self.results: list[Verdict | None] = [None] * len(items)
        self.keys = [(p.prover, p.text_hash) for p, _ in items]
        self.specs: dict[ProblemKey, Spec] = {}
        for (problem, _), key in zip(items, self.keys):
            if key not in self.specs:
                self.specs[key] = Spec.of(problem)
        names = sorted({p.prover for p, _ in items})
        self.provers = {name: get_prover(name) for name in names}
        self.targets = prover_targets(names)

    def tasks(self, chunk: list[int]) -> tuple[list[Task], dict[ProblemKey, Spec]]:
        """The chunk's tasks and the specs of their problems (each once)."""
        tasks = [(i, self.keys[i], self.items[i][1]) for i in chunk]
        return tasks, {self.keys[i]: self.specs[self.keys[i]] for i in chunk}

    def finish_chunk(self, chunk: list[int], verdicts: list[Verdict] | Raised) -> None:
        if isinstance(verdicts, Raised):
            raise verdicts.rebuild()
        for index, verdict in zip(chunk, verdicts):
            self.finish(index, verdict)

    def finish(self, index: int, verdict: Verdict) -> None:
        """Record item `index`'s verdict; an item is finished once, later verdicts are dropped."""
        if self.results[index] is None:
            self.results[index] = verdict
            if self.progress:
                self.progress(1)

    def died(self, index: int, cause: str = "killed") -> Verdict:
        message = (
            f"the process checking this candidate died ({cause}, or out of memory beyond the "
            f"{self.limits.memory_mb} MB limit)"
        )
        return resource_verdict(self.provers[self.items[index][0].prover], message, cross_check=self.limits.cross_check)

    def overran(self, index: int, seconds: float, stopped: str) -> Verdict:
        message = f"the check ran past the hard limit of {hard_deadline_s(self.limits):g} s and {stopped}"
        return resource_verdict(
            self.provers[self.items[index][0].prover], message, seconds, reason="timeout",
            cross_check=self.limits.cross_check,
        )

    def verdicts(self) -> list[Verdict]:
        missing = [i for i, v in enumerate(self.results) if v is None]
        if missing:  # a bookkeeping bug, never a candidate's fault
            raise CheckerCrash(f"the executor lost the verdicts of items {missing[:10]}")
        return self.results  # type: ignore[return-value]


def chunks(indices: list[int], workers: int, size: int | None = None) -> list[list[int]]:
    """Chunks of about a quarter of a worker's share, so that workers finish close together."""
    size = size or max(1, min(_MAX_CHUNK, math.ceil(len(indices) / (workers * 4))))
    return [indices[i : i + size] for i in range(0, len(indices), size)]
