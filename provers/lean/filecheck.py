"""The whole-file mode: each candidate is one `lean --json FILE` run in a bounded process pool.

No REPL is needed: the file is assembled from trusted parts (the problem's header and statement),
the guarded proof, and a trusted `#print axioms NAME` line, then checked by a fresh `lean`
process. Lean's JSON messages are split by position (header, proof, axioms) and judged by the
same functions as the REPL mode's answers (`judge_messages`, `judge_axiom_messages`).

Limits are enforced from outside Lean, per check: a wall-clock deadline (then the whole process
tree is killed), and a memory limit in two layers: Lean's own `-M` (which makes the kernel stop
with "excessive memory consumption") and the resident memory of the process tree, polled while
it runs (which kills it). RLIMIT_AS is only a loose backstop, because Lean reserves several GB
of address space (thread stacks, heap arenas) before it reads a line. A process that dies any
other way (a signal from outside, a crash) is retried with backoff, then raises CheckerCrash.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import ValidationError

from proofloop.errors import CheckerCrash
from provers.lean.checker import (
    Outcome,
    judge_axiom_messages,
    judge_messages,
    resource_outcome,
    timeout_outcome,
)
from provers.lean.pool import (
    RESOURCE_DEATH,
    HeaderError,
    Launcher,
    child_setup,
    death_signal,
    kill_tree,
    restart_delay,
)
from provers.lean.protocol import Message
from provers.lean.source import LeanTask

log = logging.getLogger(__name__)

# Address space Lean reserves beyond what it uses (measured: 4.35 needs about 4.5 GB to start).
RESERVED_ADDRESS_SPACE_MB = 8192
_POLL_S = 0.05
_TAIL = 2000
FILE_NAME = "Check.lean"


class LeanTimeout(Exception):
    """The run passed its deadline; its process tree has been killed."""


class LeanOutOfMemory(Exception):
    """The run passed its memory limit (or died of memory or stack); it has been killed."""


class LeanCrashed(Exception):
    """The run ended without a usable answer: killed from outside, crashed, or garbled output."""


@dataclass(frozen=True)
class LeanRun:
    """What one `lean --json FILE` run printed."""

    messages: tuple[Message, ...]
    returncode: int
    seconds: float


@dataclass(frozen=True)
class Assembled:
    """A check's file and where its parts start (1-based lines, as Lean reports them)."""

    text: str
    statement_line: int
    axioms_line: int


def assemble(task: LeanTask, proof: str) -> Assembled:
    """Header and statement from the problem, the guarded proof, then `#print axioms NAME`."""
    body = task.header + f"{task.statement} {proof.strip()}\n\n"
    return Assembled(
        text=body + f"#print axioms {task.name}\n",
        statement_line=task.header.count("\n") + 1,
        axioms_line=body.count("\n") + 1,
    )


def parse_json_messages(stdout: str) -> tuple[Message, ...]:
    """The messages of `lean --json` (one JSON object per line); LeanCrashed for anything else."""
    messages = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            messages.append(Message.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError):
            raise LeanCrashed(f"`lean --json` printed a line that is not a message: {line[:200]!r}") from None
    return tuple(messages)


def judge_run(run: LeanRun, task: LeanTask, layout: Assembled) -> Outcome:
    """The verdict of one run: header errors are the problem's, then the REPL mode's rules."""
    header, proof, axioms = [], [], []
    for m in run.messages:
        line = m.pos.line if m.pos else layout.statement_line  # unplaced messages count against the proof
        (header if line < layout.statement_line else axioms if line >= layout.axioms_line else proof).append(m)
    header_errors = [m for m in header if m.is_error]
    if header_errors:
        raise HeaderError(header_errors)
    return judge_messages(proof) or judge_axiom_messages(axioms, task)


def check_file(pool: "FilePool", task: LeanTask, proof: str, timeout_s: float) -> Outcome:
    """Check `proof` for `task` in one fresh `lean` process of `pool`."""
    layout = assemble(task, proof)
    try:
        run = pool.run(layout.text, timeout_s)
    except LeanTimeout:
        return timeout_outcome(timeout_s)
    except LeanOutOfMemory as e:
        return resource_outcome(str(e))
    return judge_run(run, task, layout)


class FilePool:
    """At most `size` `lean` processes at a time, each checking one file; thread-safe."""

    def __init__(
        self, launcher: Launcher, *, size: int = 1, max_restarts: int = 3, restart_backoff_s: float = 1.0
    ):
        self.launcher = launcher  # argv: `lean` and its options; the file name is appended
        self.size = size
        self.max_restarts = max_restarts
        self.restart_backoff_s = restart_backoff_s
        self.started = 0  # processes started so far, for logs and tests
        self._slots = threading.BoundedSemaphore(size)
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, text: str, timeout_s: float) -> LeanRun:
        """Check `text`; a crashed process is retried with backoff, up to max_restarts times."""
        failures = 0
        while True:
            with self._slots:
                try:
                    return self._run_once(text, timeout_s)
                except LeanCrashed as e:
                    failures += 1
                    delay = restart_delay(failures, self.max_restarts, self.restart_backoff_s, "`lean` crashed", e)
            time.sleep(delay)

    def _run_once(self, text: str, timeout_s: float) -> LeanRun:
        workdir = Path(tempfile.mkdtemp(prefix="proofloop-leanfile-"))
        try:
            (workdir / FILE_NAME).write_text(text, encoding="utf-8")
            with open(workdir / "out", "w+b") as out, open(workdir / "err", "w+b") as err:
                started = time.monotonic()
                returncode = self._supervise(self._start(workdir, out, err), started + timeout_s)
                stdout, stderr = _read(out), _read(err)
            seconds = time.monotonic() - started
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if RESOURCE_DEATH.search(stderr) or RESOURCE_DEATH.search(stdout[-_TAIL:]):
            raise LeanOutOfMemory((stderr or stdout)[-_TAIL:])
        if returncode not in (0, 1):
            raise LeanCrashed(f"`lean` exited with {returncode}: {stderr.strip()[-300:] or 'no output'}")
        messages = parse_json_messages(stdout)
        if returncode == 1 and not any(m.is_error for m in messages):
            raise LeanCrashed(f"`lean` failed without an error message: {stderr.strip()[-300:] or 'no output'}")
        return LeanRun(messages, returncode, seconds)

    def _start(self, workdir: Path, out, err) -> subprocess.Popen:
        with self._lock:
            if self._closed:
                raise CheckerCrash("the Lean file pool is closed")
            memory = self.launcher.memory_mb + RESERVED_ADDRESS_SPACE_MB if self.launcher.memory_mb else 0
            try:
                proc = subprocess.Popen(
                    [*self.launcher.argv, FILE_NAME],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=workdir,
                    env=dict(self.launcher.env) if self.launcher.env is not None else None,
                    start_new_session=True,
                    preexec_fn=child_setup(memory, death_signal()),
                )
            except OSError as e:
                raise CheckerCrash(f"cannot start `{self.launcher.argv[0]}`: {e}") from None
            self.started += 1
            self._running.add(proc)
            return proc

    def _supervise(self, proc: subprocess.Popen, deadline: float) -> int:
        """Wait for `proc` within the deadline and the memory limit; kill its tree otherwise."""
        limit = self.launcher.memory_mb * 2**20
        try:
            while True:
                try:
                    return proc.wait(timeout=_POLL_S)
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > deadline:
                    kill_tree(proc)
                    raise LeanTimeout("`lean` did not finish in time")
                if limit and (rss := _tree_rss(proc.pid)) > limit:
                    kill_tree(proc)
                    raise LeanOutOfMemory(f"`lean` used {rss / 2**20:.0f} MiB, over the limit of {limit / 2**20:.0f} MiB")
        finally:
            with self._lock:
                self._running.discard(proc)

    @property
    def running(self) -> list[int]:
        """Pids of the `lean` processes running now."""
        with self._lock:
            return [p.pid for p in self._running]

    def close(self) -> None:
        """Kill every running `lean`; later runs raise CheckerCrash."""
        with self._lock:
            self._closed = True
            procs = list(self._running)
        for proc in procs:
            kill_tree(proc)


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _read(f) -> str:
    f.flush()
    f.seek(0)
    return f.read().decode("utf-8", "replace")
