"""Checks as Ray tasks: the Ray side of `CheckPool`, and the connection to a cluster.

A batch is cut into chunks (as for the local pool); each chunk is one Ray task that rebuilds
its problems from their text in a long-lived Ray worker process (`WorkerSide`, kept there
between tasks) and checks under the same per-check limits as a local worker: RLIMIT_AS headroom
of `limits.memory_mb` for the task's duration, the prover's own timeout, and a hard deadline
after which the driver cancels the task (force: the worker process is killed).

Faults: Ray re-runs a task whose worker process died (`max_retries`); a chunk that still dies
is split and its items re-run one by one, and an item that dies alone gets `unknown`
("resource"), as does one that Ray's memory monitor kills (OutOfMemoryError). Verdicts are
collected by item index and the first one wins, so a retried or duplicated task never gives an
item two verdicts.

Connecting: `RayOptions.address` (from `[checker] ray_address`), else RAY_ADDRESS, else a local
cluster started here (and stopped by `RaySession.close`). Problems travel inside the tasks as
text, so nodes need no copy of the problem files; `ship_code` sends the proofloop and provers
packages in the job's runtime environment, for nodes that do not have them installed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    chunks,
    hard_deadline,
    hard_deadline_s,
    in_worker,
    memory_limit,
)
from proofloop.errors import ConfigError, ToolchainMissing
from proofloop.types import CheckLimits, Verdict

log = logging.getLogger(__name__)

# Seconds a task may wait for a worker (scheduling, a new worker's start) before the driver's
# backstop deadline starts to count.
_START_S = 60.0


@dataclass(frozen=True)
class RayOptions:
    """How to reach the cluster and what one check task asks of it."""

    address: str | None = None  # None: RAY_ADDRESS, else a local cluster
    num_cpus: float = 1.0  # CPUs one check task reserves
    memory_mb: int | None = None  # memory one check task reserves for scheduling (Ray's `memory`)
    max_retries: int = 1  # re-runs of a task whose worker process died
    ship_code: bool = False  # send proofloop/ and provers/ in the runtime environment
    working_dir: str | None = None  # a directory every worker starts in (its files are shipped)

    @classmethod
    def from_checker(cls, checker: Any) -> "RayOptions":
        """The options a run config's `[checker]` section gives, for checking and sampling alike."""
        return cls(
            address=checker.ray_address, num_cpus=checker.ray_num_cpus, memory_mb=checker.ray_memory_mb,
            ship_code=checker.ray_ship_code,
        )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ToolchainMissing(
            "executor 'ray' needs ray, which is not installed: pip install 'proofloop[ray]'"
        ) from None
    return ray


class _Connection:
    """This process's one connection to Ray, shared by every user (check pools, sampling
    replicas): the first user's options open it, later users must ask for the same cluster, and
    the cluster is shut down when the last user lets go, only if this process started it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.started = False
        self.key: tuple | None = None

    def acquire(self, options: "RayOptions") -> Any:
        ray = _import_ray()
        address = options.address or os.environ.get("RAY_ADDRESS")
        key = (address, options.ship_code, options.working_dir)
        with self.lock:
            if self.users and self.key != key:
                raise ConfigError(
                    f"Ray is already connected here with address={self.key[0] or 'a local cluster'}, "
                    f"ship_code={self.key[1]}, working_dir={self.key[2]}; this needs address={address or 'a local cluster'}, "
                    f"ship_code={options.ship_code}, working_dir={options.working_dir} ([checker] ray_* keys)"
                )
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {"log_to_driver": False, "runtime_env": runtime_env(options)}
                if address is None:
                    kwargs["include_dashboard"] = False
                ray.init(address=address, **kwargs)
                self.started = True
            self.key = key
            self.users += 1
            return ray

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                ray = _import_ray()
                if self.started and ray.is_initialized():
                    ray.shutdown()
                self.started = False
                self.key = None


_CONNECTION = _Connection()  # one per process: Ray itself allows one connection per process


class RaySession:
    """One user's hold on this process's Ray connection (see `_Connection`): `connect` takes it,
    `close` lets it go."""

    def __init__(self, options: RayOptions | None = None):
        self.options = options or RayOptions()
        self.ray = _import_ray()
        self.held = False

    def connect(self) -> Any:
        """The ray module, connected as the options say."""
        if not self.held:
            _CONNECTION.acquire(self.options)
            self.held = True
        return self.ray

    def cpus(self) -> int:
        return max(1, int(self.connect().cluster_resources().get("CPU", 1) // self.options.num_cpus))

    def close(self) -> None:
        if self.held:
            self.held = False
            _CONNECTION.release()


def runtime_env(options: RayOptions) -> dict[str, Any]:
    """The job's runtime environment: the code and the working directory the options ask to ship."""
    env: dict[str, Any] = {}
    if options.ship_code:
        import proofloop
        import provers

        env["py_modules"] = [str(Path(proofloop.__file__).parent), str(Path(provers.__file__).parent)]
    if options.working_dir:
        env["working_dir"] = options.working_dir
    return env


def check_on_ray(
    items: Sequence[Item], limits: CheckLimits, workers: int | None, progress: Progress | None, session: RaySession
) -> list[Verdict]:
    """Check a batch as Ray tasks; the same contract as `CheckPool.check_batch`."""
    ray = session.connect()
    return _RayRun(ray, items, limits, workers or session.cpus(), progress, session.options).run()


def _ray_chunk(
    tasks: list[Task], specs: dict[ProblemKey, Spec], targets: dict[str, ProverTarget], limits: CheckLimits
) -> list[Verdict] | Raised:
    """Ray task body: Ray workers are long-lived and shared, so the memory limit is per task.

    The hard deadline is kept here, per check, by an alarm: the driver cannot see when a task
    starts (its queueing and a new worker's start-up would count against it).
    """
    side = in_worker()
    side.build_provers(targets)
    with memory_limit(limits.memory_mb), hard_deadline(hard_deadline_s(limits)) as restart:
        return side.check_tasks(tasks, specs, limits, on_start=lambda _index: restart())


class _RayRun(BatchRun):
    """One batch as Ray tasks; a chunk whose worker dies (after Ray's retries) is re-run item by item."""

    def __init__(
        self, ray: Any, items: Sequence[Item], limits: CheckLimits, workers: int, progress: Progress | None,
        options: RayOptions,
    ):
        super().__init__(items, limits, progress)
        self.ray, self.workers = ray, workers
        resources: dict[str, Any] = {"num_cpus": options.num_cpus, "max_retries": options.max_retries}
        if options.memory_mb:
            resources["memory"] = options.memory_mb * 2**20
        self.remote = ray.remote(**resources)(_ray_chunk)
        # At most `workers` tasks in flight, so that a task's age is about its running time.
        self.queue = deque(chunks(list(range(len(items))), workers))
        self.running: dict[Any, tuple[list[int], float]] = {}

    def run(self) -> list[Verdict]:
        try:
            while self.queue or self.running:
                while self.queue and len(self.running) < self.workers:
                    self._submit(self.queue.popleft())
                ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    self._receive(ref)
                self._cancel_overdue()
        except BaseException:
            for ref in self.running:
                self.ray.cancel(ref, force=True)
            raise
        return self.verdicts()

    def _submit(self, chunk: list[int]) -> None:
        tasks, specs = self.tasks(chunk)
        self.running[self.remote.remote(tasks, specs, self.targets, self.limits)] = (chunk, time.monotonic())

    def _receive(self, ref: Any) -> None:
        chunk, _ = self.running.pop(ref)
        errors = self.ray.exceptions
        try:
            verdicts = self.ray.get(ref)
        except (errors.WorkerCrashedError, errors.OutOfMemoryError, errors.NodeDiedError) as e:
            self._crashed(chunk, type(e).__name__)
            return
        except errors.TaskCancelledError:
            return  # _cancel_overdue already settled this chunk
        self.finish_chunk(chunk, verdicts)

    def _crashed(self, chunk: list[int], cause: str) -> None:
        todo = [i for i in chunk if self.results[i] is None]
        if len(todo) > 1:  # find the item that did it: each one alone, next
            self.queue.extendleft([index] for index in reversed(todo))
        elif todo:
            self.finish(todo[0], self.died(todo[0], cause))

    def _cancel_overdue(self) -> None:
        """The backstop for a check the worker's alarm cannot interrupt (a C call that never returns)."""
        deadline = hard_deadline_s(self.limits)
        now = time.monotonic()
        for ref, (chunk, submitted) in list(self.running.items()):
            if now - submitted <= deadline * (len(chunk) + 1) + _START_S:
                continue
            self.ray.cancel(ref, force=True)
            del self.running[ref]
            if len(chunk) > 1:
                self.queue.extendleft([index] for index in reversed(chunk))
                continue
            log.warning("check of item %d ran %.1f s, past the hard limit; cancelling its task", chunk[0], now - submitted)
            self.finish(chunk[0], self.overran(chunk[0], now - submitted, "its task was cancelled"))
