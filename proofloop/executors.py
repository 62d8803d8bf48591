"""Where checks run: a `CheckPool` owns the worker processes (local) or the Ray connection.

Every batch returns one `Verdict` per (problem, candidate) item, in input order. A candidate
that exhausts memory, runs far past its time limit or kills its worker process becomes an
`unknown` verdict (reason "resource" or "timeout"); it never fails the batch. Infrastructure
errors raised by a prover (a missing toolchain, a crashed REPL) still propagate as exceptions.

    with CheckPool("local", workers=2) as pool:      # or CheckPool("ray", ray=RayOptions(...))
        verdicts = pool.check_batch(items, CheckLimits(timeout_s=5), progress=bar.advance)

The pool keeps its worker processes between batches, so the next batch (the next round of a
run) finds its workers started and its problems loaded; `close()` stops them (the loop does so
before training, to give the trainer the memory and the cores). Whoever runs checks owns one
pool: the loop's RunContext, the check, eval and prove commands.

Problems travel to workers as text and are rebuilt there with `Prover.from_text`, once per
worker process (see `proofloop.checkwork.WorkerSide`, which also holds what the local and the
Ray runs share). This module starts local processes; proofloop.raycheck runs tasks on Ray.

Memory: pool workers set RLIMIT_AS to their size at start plus `limits.memory_mb`; a check in
this process (workers=1, `check_one`) and a Ray task get the same headroom for their duration
only. A check that runs far past `limits.timeout_s` (see `hard_deadline_s`) has its worker
killed: unknown, "timeout".
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofloop.checkwork import (
    POLL_S,
    BatchRun,
    Item,
    ProblemKey,
    Progress,
    ProverTarget,
    Raised,
    Spec,
    Task,
    check_one,
    chunks,
    hard_deadline_s,
    headroom_limit,
    in_worker,
    memory_limit,  # noqa: F401 - part of this module's interface (tests, benchmarks)
)
from proofloop.errors import CheckerCrash, ConfigError
from proofloop.types import CheckLimits, Verdict

if TYPE_CHECKING:
    from proofloop.raycheck import RayOptions, RaySession

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
# Breaks of the pool in a row that free no item before the batch is declared broken.
_MAX_FRUITLESS_BREAKS = 3


class CheckPool:
    """The one owner of the processes that check: local worker processes, or a Ray connection.

    `workers` defaults to the CPU count (local) or the cluster's CPUs (Ray); workers=1 checks
    in this process. Use it as a context manager, or call `close()`.
    """

    def __init__(self, executor: str = "local", workers: int | None = None, ray: "RayOptions | None" = None):
        if executor not in EXECUTORS:
            raise ConfigError(f"executor: unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.executor = executor
        self.workers = workers
        self.ray_options = ray
        self._local: _LocalPool | None = None
        self._ray: RaySession | None = None

    def check_batch(self, items: Sequence[Item], limits: CheckLimits, progress: Progress | None = None) -> list[Verdict]:
        """Check every (problem, candidate); verdicts come back in input order.

        `progress`, if given, is called with the number of items just finished.
        """
        if not items:
            return []
        if self.executor == "ray":
            from proofloop.raycheck import RaySession, check_on_ray

            self._ray = self._ray or RaySession(self.ray_options)
            return check_on_ray(items, limits, self.workers, progress, self._ray)
        workers = self.workers or os.cpu_count() or 1
        if workers == 1:
            return _check_in_process(items, limits, progress)
        return _LocalRun(items, limits, progress, self, workers).run()

    def close(self) -> None:
        """Stop the kept worker processes (and a Ray cluster this pool started); the pool stays usable."""
        if self._local is not None:
            self._local.close()
            self._local = None
        if self._ray is not None:
            self._ray.close()
            self._ray = None

    def __enter__(self) -> "CheckPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _processes(self, workers: int, targets: dict[str, ProverTarget], memory_mb: int) -> Iterator["_LocalPool"]:
        """The kept processes if their settings fit (else new ones, kept in their place)."""
        key = (workers, tuple(sorted(targets.items())), memory_mb)
        if self._local is not None and (self._local.broken or self._local.key != key):
            self.close()
        if self._local is None:
            self._local = _LocalPool(workers, targets, memory_mb, key)
        try:
            yield self._local
        except BaseException:  # a batch stopped half-way leaves its workers busy: start afresh
            self._local.close(kill=True)
            self._local = None
            raise
        if self._local.broken:
            self.close()


def pool_from_config(checker: Any) -> CheckPool:
    """The pool a run config's `[checker]` section describes."""
    from proofloop.config import cpu_count

    if checker.executor != "ray":
        return CheckPool(checker.executor, checker.workers or cpu_count())
    from proofloop.raycheck import RayOptions

    return CheckPool("ray", checker.workers, RayOptions.from_checker(checker))


def check_batch(
    items: Sequence[Item], limits: CheckLimits, workers: int | None = None, progress: Progress | None = None
) -> list[Verdict]:
    """Check one batch in a pool of its own (started and stopped here); see `CheckPool.check_batch`."""
    with CheckPool("local", workers) as pool:
        return pool.check_batch(items, limits, progress)

def _check_in_process(items: Sequence[Item], limits: CheckLimits, progress: Progress | None) -> list[Verdict]:
    verdicts = []
    for problem, candidate in items:
        verdicts.append(check_one(problem, candidate, limits))
        if progress:
            progress(1)
    return verdicts

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

    def kill(self, slot: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid[slot], signal.SIGKILL)


def _init_worker(state: _SharedState, targets: dict[str, ProverTarget], memory_mb: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what happens to the batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    side = in_worker()
    side.build_provers(targets)  # before the memory limit, so that the limit bounds the checks alone
    if memory_mb and memory_mb > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (headroom_limit(memory_mb, soft, hard), hard))
    side.state, side.slot = state, state.claim()
    if side.slot >= 0:
        state.pid[side.slot] = os.getpid()


def _check_chunk(tasks: list[Task], specs: dict[ProblemKey, Spec], limits: CheckLimits) -> list[Verdict] | Raised:
    """Pool worker entry point: check a chunk, telling the parent which item is running."""
    side = in_worker()
    state, slot = side.state, side.slot

    def on_start(index: int) -> None:
        if state is not None and slot >= 0:
            state.current[slot] = -1  # so the parent never pairs the new index with an old time
            state.since[slot] = time.monotonic()
            state.current[slot] = index

    try:
        return side.check_tasks(tasks, specs, limits, on_start)
    finally:
        if state is not None and slot >= 0:
            state.current[slot] = -1


class _LocalPool:
    """Worker processes and what they are doing."""

    def __init__(self, workers: int, targets: dict[str, ProverTarget], memory_mb: int, key: tuple = ()):
        self.key = key
        ctx = _mp_context(targets)
        self.state = _SharedState(ctx, workers)
        self.executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(self.state, targets, memory_mb)
        )
        self.broken = False

    def close(self, kill: bool = False) -> None:
        if kill:
            for slot, _ in self.state.running():
                self.state.kill(slot)
        self.executor.shutdown(wait=not kill, cancel_futures=True)


@contextlib.contextmanager
def _temporary_processes(workers: int, targets: dict[str, ProverTarget], memory_mb: int) -> Iterator[_LocalPool]:
    pool = _LocalPool(workers, targets, memory_mb)
    try:
        yield pool
    except BaseException:
        pool.close(kill=True)
        raise
    pool.close()


def _mp_context(targets: dict[str, ProverTarget]) -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # Workers fork from a server that already imported the provers (ignored if it is running).
    ctx.set_forkserver_preload([__name__] + sorted({t.target.partition(":")[0] for t in targets.values()}))
    return ctx


@dataclass
class _PassResult:
    lost: list[int]  # not checked, or checked in a chunk whose result died with the pool
    unfinished: list[int]  # being checked when the pool broke: one of them may be the cause
    broke: bool
    resolved: int


class _LocalRun(BatchRun):
    """One batch on the local worker processes, rebuilt whenever a worker dies."""

    def __init__(self, items: Sequence[Item], limits: CheckLimits, progress: Progress | None, owner: CheckPool, workers: int):
        super().__init__(items, limits, progress)
        self.owner, self.workers = owner, workers
        self.fruitless = 0

    def run(self) -> list[Verdict]:
        pending = list(range(len(self.items)))
        while pending:
            with self.owner._processes(self.workers, self.targets, self.limits.memory_mb) as pool:
                result = self._pass(pool, pending)
            self._count_fruitless(result)
            self._isolate(result.unfinished)
            pending = result.lost
        return self.verdicts()

    def _isolate(self, suspects: list[int]) -> None:
        """Re-check items that were running when the pool broke, alone, to find the one that kills."""
        while suspects:
            with _temporary_processes(1, self.targets, self.limits.memory_mb) as pool:
                result = self._pass(pool, suspects, chunk_size=1)
            self._count_fruitless(result)
            for index in result.unfinished:  # alone in its pool: it took its worker down
                self.finish(index, self.died(index))
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

    def _pass(self, pool: _LocalPool, indices: list[int], chunk_size: int | None = None) -> _PassResult:
        resolved_before = sum(r is not None for r in self.results)
        futures: dict[Future, list[int]] = {}
        try:
            for chunk in chunks(indices, self.workers, chunk_size):
                futures[pool.executor.submit(_check_chunk, *self.tasks(chunk), self.limits)] = chunk
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

    def _collect(self, pool: _LocalPool, futures: dict[Future, list[int]]) -> bool:
        """Gather chunk results as they finish; True if the pool broke."""
        broke = False
        not_done = set(futures)
        while not_done:
            done, not_done = wait(not_done, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    verdicts = future.result()
                except BrokenProcessPool:
                    broke = True
                    continue
                self.finish_chunk(futures[future], verdicts)
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
                state.kill(slot)
                self.finish(index, self.overran(index, elapsed, "its worker was stopped"))
