"""Where checks run: in this process, in a local process pool (the default), or on a Ray cluster.

Every executor returns one `Verdict` per (problem, candidate) item, in input order. A candidate
that exhausts memory or kills its worker process becomes an `unknown` verdict with reason
"resource"; it never fails the batch. Infrastructure errors raised by a prover (a missing
toolchain, a crashed REPL) still propagate as exceptions.

Problems travel to workers as text and are rebuilt there with `Prover.from_text`, once per
worker: each worker keeps a small cache of loaded problems keyed by (prover, text hash). The
local pool outlives a batch, so the next batch (the next round of a run) finds its workers
started and its problems loaded; `close_pool()` stops it early (before training, say).

Memory: pool workers set RLIMIT_AS to their size at start plus `limits.memory_mb`; a check in
this process (workers=1, `check_one`) gets the same headroom for its duration only. A check that
runs far past `limits.timeout_s` (see `hard_deadline_s`) has its worker killed: unknown, "timeout".
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from proofloop.errors import CheckerCrash, ConfigError, ProofloopError, ToolchainMissing
from proofloop.prover import Prover, checker_version, get_prover
from proofloop.types import CheckLimits, Problem, Status, Verdict

log = logging.getLogger(__name__)

Candidate = str | bytes
Item = tuple[Problem, Candidate]
Progress = Callable[[int], None]
ProblemKey = tuple[str, str]

EXECUTORS = ("local", "ray")
# Loaded problems a worker keeps; a batch is usually grouped by problem, so this rarely misses.
_CACHE_SIZE = 256
_MAX_CHUNK = 16
# Breaks of the pool in a row that free no item before the batch is declared broken.
_MAX_FRUITLESS_BREAKS = 3
_POLL_S = 0.25


def check_batch(
    items: Sequence[Item],
    limits: CheckLimits,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Verdict]:
    """Check every (problem, candidate) in a local process pool; verdicts come back in input order.

    `workers` defaults to os.cpu_count(); workers=1 checks in this process. `progress`, if
    given, is called with the number of items just finished (add it to a progress bar).
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if not items:
        return []
    if workers == 1:
        return _check_in_process(items, limits, progress)
    return _PoolRun(items, limits, workers, progress).run()


def check_batch_with(
    executor: str,
    items: Sequence[Item],
    limits: CheckLimits,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Verdict]:
    """Check a batch on the executor named in the config: "local" (process pool) or "ray"."""
    if executor == "local":
        return check_batch(items, limits, workers, progress)
    if executor == "ray":
        return check_batch_ray(items, limits, workers, progress)
    raise ConfigError(f"executor: unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")


def check_one(problem: Problem, candidate: Candidate, limits: CheckLimits) -> Verdict:
    """Check one candidate in this process, with its memory bounded by `limits.memory_mb`."""
    prover = get_prover(problem.prover)
    started = time.perf_counter()
    try:
        with memory_limit(limits.memory_mb):
            return prover.check(problem, candidate, limits)
    except MemoryError:
        return resource_verdict(
            problem.prover,
            f"the check ran out of memory (limit {limits.memory_mb} MB)",
            time.perf_counter() - started,
            cross_check=limits.cross_check,
        )


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
    resource.setrlimit(resource.RLIMIT_AS, (_headroom_limit(headroom, soft, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def resource_verdict(
    prover_name: str, message: str, seconds: float = 0.0, reason: str = "resource", cross_check: str = ""
) -> Verdict:
    """An `unknown` verdict for a check that ran out of memory, time or its process."""
    prover = _prover(prover_name)
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


def _headroom_limit(memory_mb: int, soft: int, hard: int) -> int:
    import psutil

    wanted = psutil.Process().memory_info().vms + memory_mb * 2**20
    for bound in (soft, hard):  # never loosen a limit someone set outside
        if bound != resource.RLIM_INFINITY:
            wanted = min(wanted, bound)
    return wanted


def _check_in_process(items: Sequence[Item], limits: CheckLimits, progress: Progress | None) -> list[Verdict]:
    verdicts = []
    for problem, candidate in items:
        verdicts.append(check_one(problem, candidate, limits))
        if progress:
            progress(1)
    return verdicts


# ---- what travels to a worker, and the worker side -------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Enough to rebuild a Problem in another process (its parsed `data` is not sent)."""

    prover: str
    id: str
    text: str
    source: str
    split: str
    reference: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, p: Problem) -> "_Spec":
        return cls(p.prover, p.id, p.text, p.source, p.split, p.reference, dict(p.meta))


@dataclass(frozen=True)
class _Raised:
    """A ProofloopError raised in a worker, carried back as data (its __init__ may not unpickle)."""

    cls: type
    message: str
    attrs: dict[str, Any]

    def rebuild(self) -> ProofloopError:
        exc = self.cls.__new__(self.cls)
        Exception.__init__(exc, self.message)
        exc.__dict__.update(self.attrs)
        return exc


Task = tuple[int, ProblemKey, Candidate]

_cache: OrderedDict[ProblemKey, Problem] = OrderedDict()
_worker: dict[str, Any] = {}
# Provers a worker built from the parent's classes, so a worker checks with exactly those.
_provers: dict[str, Prover] = {}


def _prover(name: str) -> Prover:
    return _provers.get(name) or get_prover(name)


def _prover_targets(names: list[str]) -> dict[str, str]:
    """name -> "module:Class" of the prover the parent uses under that name."""
    classes = {name: type(get_prover(name)) for name in names}
    return {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in classes.items()}


def _build_provers(targets: dict[str, str]) -> None:
    for name, target in targets.items():
        if name not in _provers:
            module, _, attr = target.partition(":")
            _provers[name] = getattr(importlib.import_module(module), attr)()


def _key(p: Problem) -> ProblemKey:
    return (p.prover, p.text_hash)


def _problem(key: ProblemKey, spec: _Spec) -> Problem:
    problem = _cache.get(key)
    if problem is not None:
        _cache.move_to_end(key)
        return problem
    prover = _prover(spec.prover)
    problem = prover.from_text(spec.text, id=spec.id, source=spec.source, split=spec.split, reference=spec.reference)
    if spec.meta:
        problem = replace(problem, meta={**problem.meta, **spec.meta})
    _cache[key] = problem
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return problem


def _init_worker(state: "_SharedState", targets: dict[str, str], memory_mb: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what happens to the batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _build_provers(targets)  # before the memory limit, so that the limit bounds the checks alone
    if memory_mb and memory_mb > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (_headroom_limit(memory_mb, soft, hard), hard))
    slot = state.claim()
    if slot >= 0:
        state.pid[slot] = os.getpid()
    _worker.update(state=state, slot=slot)


def _check_tasks(tasks: list[Task], specs: dict[ProblemKey, _Spec], limits: CheckLimits, on_start=None):
    """Check tasks one by one in this (worker) process; a ProofloopError comes back as data."""
    verdicts = []
    for index, key, candidate in tasks:
        if on_start:
            on_start(index)
        started = time.perf_counter()
        try:
            problem = _problem(key, specs[key])
            verdict = _prover(problem.prover).check(problem, candidate, limits)
        except MemoryError:
            verdict = resource_verdict(
                key[0], f"the check ran out of memory (limit {limits.memory_mb} MB)", time.perf_counter() - started,
                cross_check=limits.cross_check,
            )
        except ProofloopError as e:
            return _Raised(type(e), str(e), dict(e.__dict__))
        verdicts.append(verdict)
    return verdicts


def _check_chunk(tasks: list[Task], specs: dict[ProblemKey, _Spec], limits: CheckLimits) -> list[Verdict] | _Raised:
    """Pool worker entry point: check a chunk, telling the parent which item is running."""
    state: _SharedState = _worker["state"]
    slot: int = _worker["slot"]

    def on_start(index: int) -> None:
        if slot >= 0:
            state.current[slot] = -1  # so the parent never pairs the new index with an old time
            state.since[slot] = time.monotonic()
            state.current[slot] = index

    try:
        return _check_tasks(tasks, specs, limits, on_start)
    finally:
        if slot >= 0:
            state.current[slot] = -1


# ---- the local process pool ------------------------------------------------------------------


class _SharedState:
    """What each worker is checking right now, readable by the parent even after a worker dies."""

    def __init__(self, ctx: Any, slots: int):
        self.next_slot = ctx.Value("i", 0)
        self.current = ctx.RawArray("q", [-1] * slots)
        self.since = ctx.RawArray("d", slots)
        self.pid = ctx.RawArray("i", slots)

    def claim(self) -> int:
        with self.next_slot.get_lock():
            slot = self.next_slot.value
            self.next_slot.value += 1
        return slot if slot < len(self.current) else -1

    def running(self) -> list[tuple[int, int]]:
        """(slot, item index) for every worker in the middle of a check."""
        return [(s, self.current[s]) for s in range(len(self.current)) if self.current[s] >= 0]

    def kill_running(self) -> None:
        for slot, _ in self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid[slot], signal.SIGKILL)


class _Pool:
    """Worker processes and what they are doing; kept between batches while its settings fit."""

    def __init__(self, workers: int, targets: dict[str, str], memory_mb: int):
        self.key = _pool_key(workers, targets, memory_mb)
        ctx = _mp_context(targets)
        self.state = _SharedState(ctx, workers)
        self.executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(self.state, targets, memory_mb)
        )
        self.broken = False

    def close(self, kill: bool = False) -> None:
        if kill:
            self.state.kill_running()
        self.executor.shutdown(wait=not kill, cancel_futures=True)


def _pool_key(workers: int, targets: dict[str, str], memory_mb: int) -> tuple:
    return (workers, tuple(sorted(targets.items())), memory_mb)


# One pool is kept after a batch, so the next batch (the next round) finds its workers started
# and its problems loaded. A lock keeps two threads from sharing it; the loser gets its own.
_kept: _Pool | None = None
_kept_lock = threading.Lock()


def close_pool() -> None:
    """Stop the worker processes kept between batches (they also stop when Python exits)."""
    global _kept
    with _kept_lock:
        if _kept is not None:
            _kept.close()
            _kept = None


@contextlib.contextmanager
def _temporary_pool(workers: int, targets: dict[str, str], memory_mb: int) -> Iterator[_Pool]:
    pool = _Pool(workers, targets, memory_mb)
    try:
        yield pool
    except BaseException:
        pool.close(kill=True)
        raise
    pool.close()


@contextlib.contextmanager
def _pool_for(workers: int, targets: dict[str, str], memory_mb: int) -> Iterator[_Pool]:
    """The kept pool if its settings fit (else a new one, kept in its place)."""
    global _kept
    if not _kept_lock.acquire(blocking=False):
        with _temporary_pool(workers, targets, memory_mb) as pool:
            yield pool
        return
    try:
        if _kept is not None and (_kept.broken or _kept.key != _pool_key(workers, targets, memory_mb)):
            _kept.close()
            _kept = None
        if _kept is None:
            _kept = _Pool(workers, targets, memory_mb)
        yield _kept
    except BaseException:
        if _kept is not None:  # a batch stopped half-way leaves its workers busy: start afresh
            _kept.close(kill=True)
            _kept = None
        raise
    finally:
        if _kept is not None and _kept.broken:
            _kept.close()
            _kept = None
        _kept_lock.release()


@dataclass
class _PassResult:
    lost: list[int]  # not checked, or checked in a chunk whose result died with the pool
    unfinished: list[int]  # being checked when the pool broke: one of them may be the cause
    broke: bool
    resolved: int


def _mp_context(targets: dict[str, str]) -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # Workers fork from a server that already imported the provers (ignored if it is running).
    ctx.set_forkserver_preload([__name__] + sorted({t.partition(":")[0] for t in targets.values()}))
    return ctx


def _chunks(indices: list[int], workers: int, size: int | None) -> list[list[int]]:
    size = size or max(1, min(_MAX_CHUNK, math.ceil(len(indices) / (workers * 4))))
    return [indices[i : i + size] for i in range(0, len(indices), size)]


class _PoolRun:
    """One batch on a local process pool, rebuilt whenever a worker dies."""

    def __init__(self, items: Sequence[Item], limits: CheckLimits, workers: int, progress: Progress | None):
        self.items, self.limits, self.progress = items, limits, progress
        self.workers = workers
        self.results: list[Verdict | None] = [None] * len(items)
        self.keys = [_key(p) for p, _ in items]
        self.specs: dict[ProblemKey, _Spec] = {}
        for (problem, _), key in zip(items, self.keys):
            if key not in self.specs:
                self.specs[key] = _Spec.of(problem)
        self.targets = _prover_targets(sorted({p.prover for p, _ in items}))
        self.fruitless = 0

    def run(self) -> list[Verdict]:
        pending = list(range(len(self.items)))
        while pending:
            with _pool_for(self.workers, self.targets, self.limits.memory_mb) as pool:
                result = self._pass(pool, pending)
            self._count_fruitless(result)
            self._isolate(result.unfinished)
            pending = result.lost
        return self.results  # type: ignore[return-value]

    def _isolate(self, suspects: list[int]) -> None:
        """Re-check items that were running when the pool broke, alone, to find the one that kills."""
        while suspects:
            with _temporary_pool(1, self.targets, self.limits.memory_mb) as pool:
                result = self._pass(pool, suspects, chunk_size=1)
            self._count_fruitless(result)
            for index in result.unfinished:  # alone in its pool: it took its worker down
                self._finish(index, self._died(index))
            suspects = result.lost

    def _count_fruitless(self, result: _PassResult) -> None:
        if not result.broke or result.resolved or result.unfinished:
            self.fruitless = 0
            return
        self.fruitless += 1
        if self.fruitless >= _MAX_FRUITLESS_BREAKS:
            raise CheckerCrash(
                f"checker worker processes died {self.fruitless} times before checking anything "
                f"(they cannot start: is the memory limit of {self.limits.memory_mb} MB too small?)"
            )

    def _pass(self, pool: _Pool, indices: list[int], chunk_size: int | None = None) -> _PassResult:
        chunks = _chunks(indices, self.workers, chunk_size)
        resolved_before = sum(r is not None for r in self.results)
        futures: dict[Future, list[int]] = {}
        try:
            for chunk in chunks:
                futures[pool.executor.submit(_check_chunk, *self._tasks(chunk), self.limits)] = chunk
        except BrokenProcessPool:  # a worker died while we were still handing out chunks
            pool.broken = True
        pool.broken = self._collect(pool, futures) or pool.broken
        running = {index for _, index in pool.state.running()} if pool.broken else set()
        unresolved = [i for i in indices if self.results[i] is None]
        return _PassResult(
            lost=[i for i in unresolved if i not in running],
            unfinished=[i for i in unresolved if i in running],
            broke=pool.broken,
            resolved=sum(r is not None for r in self.results) - resolved_before,
        )

    def _tasks(self, chunk: list[int]) -> tuple[list[Task], dict[ProblemKey, _Spec]]:
        tasks = [(i, self.keys[i], self.items[i][1]) for i in chunk]
        return tasks, {self.keys[i]: self.specs[self.keys[i]] for i in chunk}

    def _collect(self, pool: _Pool, futures: dict[Future, list[int]]) -> bool:
        """Gather chunk results as they finish; True if the pool broke."""
        broke = False
        not_done = set(futures)
        while not_done:
            done, not_done = wait(not_done, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    verdicts = future.result()
                except BrokenProcessPool:
                    broke = True
                    continue
                if isinstance(verdicts, _Raised):
                    raise verdicts.rebuild()
                for index, verdict in zip(futures[future], verdicts):
                    self._finish(index, verdict)
            if not broke:
                self._stop_overdue(pool.state)
        return broke

    def _stop_overdue(self, state: _SharedState) -> None:
        """Kill a worker whose check ran far past the time limit (the prover failed to stop it)."""
        deadline = hard_deadline_s(self.limits)
        now = time.monotonic()
        for slot, index in state.running():
            elapsed = now - state.since[slot]
            if elapsed > deadline and state.current[slot] == index and self.results[index] is None:
                log.warning("check of item %d ran %.1f s, past the hard limit; stopping its worker", index, elapsed)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.pid[slot], signal.SIGKILL)
                message = f"the check ran past the hard limit of {deadline:g} s and its worker was stopped"
                self._finish(index, resource_verdict(
                    self.items[index][0].prover, message, elapsed, reason="timeout", cross_check=self.limits.cross_check
                ))

    def _died(self, index: int) -> Verdict:
        message = (
            f"the process checking this candidate died (killed, or out of memory beyond the "
            f"{self.limits.memory_mb} MB limit)"
        )
        return resource_verdict(self.items[index][0].prover, message, cross_check=self.limits.cross_check)

    def _finish(self, index: int, verdict: Verdict) -> None:
        if self.results[index] is None:
            self.results[index] = verdict
            if self.progress:
                self.progress(1)


# ---- Ray ---------------------------------------------------------------------------------------


def check_batch_ray(
    items: Sequence[Item],
    limits: CheckLimits,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Verdict]:
    """Check a batch as Ray tasks; the same contract as check_batch.

    Ray joins the cluster at RAY_ADDRESS (or starts a local one). Every node needs proofloop
    installed. `workers` only shapes the chunking; Ray decides how
    many tasks run at once (one CPU each).
    """
    try:
        import ray
    except ImportError:
        raise ToolchainMissing(
            "executor 'ray' needs ray, which is not installed: pip install 'proofloop[ray]'"
        ) from None
    if not items:
        return []
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    return _RayRun(ray, items, limits, workers, progress).run()


def _ray_chunk(
    tasks: list[Task], specs: dict[ProblemKey, _Spec], targets: dict[str, str], limits: CheckLimits
) -> list[Verdict] | _Raised:
    """Ray task body: Ray workers are long-lived and shared, so the memory limit is per chunk."""
    _build_provers(targets)
    with memory_limit(limits.memory_mb):
        return _check_tasks(tasks, specs, limits)


class _RayRun:
    """One batch as Ray tasks; a chunk whose worker crashes is re-run item by item."""

    def __init__(self, ray: Any, items: Sequence[Item], limits: CheckLimits, workers: int, progress: Progress | None):
        self.ray, self.items, self.limits, self.progress = ray, items, limits, progress
        self.keys = [_key(p) for p, _ in items]
        self.specs = {k: _Spec.of(p) for (p, _), k in zip(items, self.keys)}
        self.results: list[Verdict | None] = [None] * len(items)
        self.targets = _prover_targets(sorted({p.prover for p, _ in items}))
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_chunk)
        self.workers = workers
        # At most `workers` tasks in flight, so that a task's age is about its running time.
        self.queue = deque(_chunks(list(range(len(items))), workers, None))
        self.running: dict[Any, tuple[list[int], float]] = {}

    def run(self) -> list[Verdict]:
        try:
            while self.queue or self.running:
                while self.queue and len(self.running) < self.workers:
                    self._submit(self.queue.popleft())
                ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=_POLL_S)
                for ref in ready:
                    self._receive(ref)
                self._cancel_overdue()
        except BaseException:
            for ref in self.running:
                self.ray.cancel(ref, force=True)
            raise
        return self.results  # type: ignore[return-value]

    def _submit(self, chunk: list[int]) -> None:
        tasks = [(i, self.keys[i], self.items[i][1]) for i in chunk]
        specs = {self.keys[i]: self.specs[self.keys[i]] for i in chunk}
        self.running[self.remote.remote(tasks, specs, self.targets, self.limits)] = (chunk, time.monotonic())

    def _receive(self, ref: Any) -> None:
        chunk, _ = self.running.pop(ref)
        try:
            verdicts = self.ray.get(ref)
        except (self.ray.exceptions.WorkerCrashedError, self.ray.exceptions.OutOfMemoryError) as e:
            self._crashed(chunk, f"the process checking this candidate died ({type(e).__name__})", "resource")
            return
        except self.ray.exceptions.TaskCancelledError:
            return  # _cancel_overdue already settled this chunk
        if isinstance(verdicts, _Raised):
            raise verdicts.rebuild()
        for index, verdict in zip(chunk, verdicts):
            self._finish(index, verdict)

    def _crashed(self, chunk: list[int], message: str, reason: str) -> None:
        if len(chunk) > 1:  # find the item that did it: each one alone, next
            self.queue.extendleft([index] for index in reversed(chunk))
            return
        self._finish(chunk[0], resource_verdict(
            self.items[chunk[0]][0].prover, message, reason=reason, cross_check=self.limits.cross_check
        ))

    def _cancel_overdue(self) -> None:
        deadline = hard_deadline_s(self.limits)
        now = time.monotonic()
        for ref, (chunk, submitted) in list(self.running.items()):
            if now - submitted > deadline * len(chunk):
                self.ray.cancel(ref, force=True)
                del self.running[ref]
                self._crashed(chunk, f"the check ran past the hard limit of {deadline:g} s and was stopped", "timeout")

    def _finish(self, index: int, verdict: Verdict) -> None:
        if self.results[index] is None:
            self.results[index] = verdict
            if self.progress:
                self.progress(1)
