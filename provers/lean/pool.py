"""A pool of warm REPL processes, keyed by the import block they have elaborated.

Importing Mathlib takes seconds and gigabytes, so each process elaborates its imports once
and then the headers of the problems it serves (kept in a small cache of environments), and
every check is one `{"cmd": ..., "env": N}` on top. The limits are enforced from outside Lean:
a wall-clock deadline per request (on expiry the whole process tree is killed), an address-space
cap per process (RLIMIT_AS, set in the child before it runs the REPL), a maximum number of uses
per process, and restarts with exponential backoff when a process dies.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import os
import re
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil

from proofloop.errors import CheckerCrash
from provers.lean.protocol import (
    Command,
    CommandResponse,
    Message,
    ProofStep,
    ProofStepResponse,
    ProtocolError,
    ReplError,
    Request,
    Response,
    decode,
    describe,
    encode,
    split_response,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# What Lean (or the C++ runtime under it) prints when it runs out of memory or stack.
RESOURCE_DEATH = re.compile(r"out of memory|bad_alloc|Cannot allocate memory|Stack overflow|stack overflow", re.I)
_STDERR_TAIL = 2000
_PR_SET_PDEATHSIG = 1


class ReplTimeout(Exception):
    """A request did not finish before its deadline; the process has been killed."""


class ReplDied(Exception):
    """The REPL process exited, closed its pipes or broke the protocol."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None):
        super().__init__(
            message
            + (f" (exit {returncode})" if returncode is not None else "")
            + (f": {stderr.strip()[-300:]}" if stderr.strip() else "")
        )
        self.stderr = stderr
        self.returncode = returncode

    @property
    def resource_exhausted(self) -> bool:
        """Lean died of memory or stack exhaustion: the candidate's fault, not the checker's."""
        return bool(RESOURCE_DEATH.search(self.stderr))


class HeaderError(Exception):
    """The problem's header does not elaborate: a problem error, not a candidate's."""

    def __init__(self, messages: list[Message] | str):
        self.messages = messages if isinstance(messages, list) else []
        super().__init__(describe(messages) if isinstance(messages, list) else messages)


@dataclass(frozen=True)
class Launcher:
    """How to start one REPL process."""

    argv: tuple[str, ...]
    env: Mapping[str, str] | None = field(default=None, repr=False)
    memory_mb: int = 0  # RLIMIT_AS of the process; 0 for none


def _libc_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def death_signal() -> Callable[..., int] | None:
    """prctl, when the REPL may be tied to the life of the thread starting it.

    Linux sends the parent-death signal when the *thread* that forked the child exits, so it is
    only safe from the main thread; REPLs started from other threads rely on seeing EOF on stdin
    when this process dies.
    """
    return _libc_prctl() if threading.current_thread() is threading.main_thread() else None


def child_setup(memory_mb: int, prctl: Callable[..., int] | None) -> Callable[[], None]:
    """The preexec function: cap the address space and die with the parent."""

    def setup() -> None:
        # With no cap of its own, the child still drops the soft cap it inherited (an executor
        # bounds the checking process, not the Lean it starts, which reserves GBs of addresses).
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 2**20 if memory_mb > 0 else hard
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        if prctl is not None:
            # A REPL outliving a killed checker would keep burning a core on a runaway proof.
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return setup


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill `proc` and everything it started, then reap it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    # The REPL leads its own process group. Once it is reaped its pid may be reused, so the
    # group is only signalled before that (an exited but unreaped leader still holds the pid).
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.error("REPL process %d did not exit after SIGKILL", proc.pid)


def _await_exit(pid: int, timeout_s: float) -> None:
    """Wait until `pid` has exited, without reaping it (its pid keeps naming its group)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


class ReplProcess:
    """One REPL process speaking the JSON protocol over pipes, run in its own temporary directory."""

    def __init__(self, launcher: Launcher):
        self.launcher = launcher
        self.proc: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self._stderr = None
        self._closed = False
        self._buffer = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="proofloop-lean-"))
        self._stderr = open(self._workdir / "stderr.log", "w+b")
        try:
            self.proc = subprocess.Popen(
                list(self.launcher.argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=self._workdir,
                env=dict(self.launcher.env) if self.launcher.env is not None else None,
                start_new_session=True,
                preexec_fn=child_setup(self.launcher.memory_mb, death_signal()),
                bufsize=0,
            )
        except OSError as e:
            self.close()
            raise ReplDied(f"cannot start the REPL {self.launcher.argv[0]}: {e}") from None
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        log.debug("started REPL pid %d in %s", self.proc.pid, self._workdir)

    def request(self, request: Request, timeout_s: float) -> Response:
        """Send one request and wait at most `timeout_s` for its response."""
        if not self.alive:
            raise self._died("the REPL is not running")
        deadline = time.monotonic() + timeout_s
        self._write(encode(request), deadline)
        text = self._read(deadline)
        try:
            return decode(text)
        except ProtocolError as e:
            self.close()
            raise ReplDied(f"the REPL broke the protocol: {e}") from None

    def _write(self, data: bytes, deadline: float) -> None:
        fd = self.proc.stdin.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_WRITE)
            while data:
                if not sel.select(self._remaining(deadline)):
                    continue
                try:
                    data = data[os.write(fd, data) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise self._died("the REPL closed its input") from None

    def _read(self, deadline: float) -> str:
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while (split := split_response(self._buffer)) is None:
                if not sel.select(self._remaining(deadline)):
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise self._died("the REPL exited")
                self._buffer += self._decoder.decode(chunk)
        text, self._buffer = split
        return text

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            self.close()
            raise ReplTimeout("the REPL did not answer in time")
        return left

    def _died(self, what: str) -> ReplDied:
        if self.proc is not None:
            _await_exit(self.proc.pid, 1.0)  # so that the exit status is the REPL's own
        stderr = self.stderr_tail()
        proc = self.proc
        self.close()  # kills what is left of the group, then reaps
        return ReplDied(what, stderr, proc.returncode if proc is not None else None)

    def stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        """Kill the process tree and remove the working directory (idempotent)."""
        if self.proc is not None and not self._closed:
            self._closed = True
            kill_tree(self.proc)
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
        if self._stderr is not None:
            self._stderr.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


class ReplWorker:
    """A REPL process with its imports elaborated and a cache of header environments."""

    def __init__(self, launcher: Launcher, imports: str, header_cache: int = 8):
        self.imports = imports
        self.process = ReplProcess(launcher)
        self.uses = 0  # checks (or tactic sessions) served; the pool retires it at max_uses
        self.dead = False
        self._header_cache = header_cache
        self._base_env: int | None = None
        self._headers: OrderedDict[str, int] = OrderedDict()

    @property
    def started(self) -> bool:
        return self.process.proc is not None

    def header_env(self, header_body: str, timeout_s: float) -> int:
        """The environment with the imports and `header_body` elaborated (cached per process)."""
        if self._base_env is None:
            self.process.start()
            self._base_env = self._elaborate_header(Command(cmd=self.imports), timeout_s)
        if not header_body.strip():
            return self._base_env
        if header_body in self._headers:
            self._headers.move_to_end(header_body)
            return self._headers[header_body]
        env = self._elaborate_header(Command(cmd=header_body, env=self._base_env), timeout_s)
        self._headers[header_body] = env
        if len(self._headers) > self._header_cache:
            self._headers.popitem(last=False)
        return env

    def _elaborate_header(self, command: Command, timeout_s: float) -> int:
        try:
            resp = self.process.request(command, timeout_s)
        except ReplTimeout:
            self.discard()
            raise CheckerCrash(
                f"elaborating a problem header took longer than [lean] header_timeout_s = {timeout_s:g} s"
            ) from None
        if isinstance(resp, ReplError):
            raise HeaderError(resp.message)
        if not isinstance(resp, CommandResponse) or resp.env is None:
            raise ReplDied(f"the REPL answered a command without an environment: {resp!r}")
        if resp.errors:
            raise HeaderError(resp.errors)
        return resp.env

    def command(self, cmd: str, env: int, timeout_s: float) -> CommandResponse | ReplError:
        """Run commands in environment `env`."""
        resp = self.process.request(Command(cmd=cmd, env=env), timeout_s)
        if isinstance(resp, ProofStepResponse):
            raise ReplDied(f"the REPL answered a command with a proof state: {resp!r}")
        return resp

    def tactic(self, tactic: str, proof_state: int, timeout_s: float) -> ProofStepResponse | ReplError:
        """Run one tactic on proof state `proof_state`."""
        resp = self.process.request(ProofStep(tactic=tactic, proofState=proof_state), timeout_s)
        if isinstance(resp, CommandResponse):
            raise ReplDied(f"the REPL answered a tactic with a command response: {resp!r}")
        return resp

    def discard(self) -> None:
        """Kill the process; the pool will not hand this worker out again."""
        self.dead = True
        self.process.close()


class ReplPool:
    """REPL workers shared by the checks of one process; thread-safe."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        size: int = 1,
        max_uses: int = 200,
        max_restarts: int = 3,
        restart_backoff_s: float = 1.0,
        header_cache: int = 8,
    ):
        self.launcher = launcher
        self.size = size
        self.max_uses = max_uses
        self.max_restarts = max_restarts
        self.restart_backoff_s = restart_backoff_s
        self.header_cache = header_cache
        self.started = 0  # workers created so far (each starts one process), for logs and tests
        self._idle: list[ReplWorker] = []
        self._busy: set[ReplWorker] = set()
        self._cond = threading.Condition()
        self._closed = False

    @contextmanager
    def worker(self, imports: str) -> Iterator[ReplWorker]:
        """A worker for `imports`, exclusively, for the duration of the block."""
        w = self._acquire(imports)
        try:
            yield w
        finally:
            self._release(w)

    def run(self, imports: str, action: Callable[[ReplWorker], T]) -> T:
        """Run `action` on a worker; restart with backoff when the REPL dies, up to max_restarts.

        ReplTimeout and resource deaths (ReplDied.resource_exhausted) reach the caller after the
        process is killed; other deaths are retried and end in CheckerCrash.
        """
        failures = 0
        while True:
            with self.worker(imports) as w:
                w.uses += 1
                try:
                    return action(w)
                except ReplTimeout:
                    w.discard()
                    raise
                except ReplDied as e:
                    w.discard()
                    if e.resource_exhausted:
                        raise
                    failures += 1
                    delay = restart_delay(failures, self.max_restarts, self.restart_backoff_s, "the Lean REPL died", e)
            time.sleep(delay)

    def _acquire(self, imports: str) -> ReplWorker:
        with self._cond:
            while True:
                if self._closed:
                    raise CheckerCrash("the Lean REPL pool is closed")
                for w in [w for w in self._idle if w.started and not w.process.alive]:
                    # Killed from outside (or with the thread that started it): not a crash.
                    self._idle.remove(w)
                    w.discard()
                for w in reversed(self._idle):
                    if w.imports == imports:
                        self._idle.remove(w)
                        self._busy.add(w)
                        return w
                if len(self._idle) + len(self._busy) < self.size:
                    w = ReplWorker(self.launcher, imports, self.header_cache)
                    self.started += 1
                    self._busy.add(w)
                    return w
                if self._idle:
                    self._idle.pop(0).discard()  # least recently used, other imports
                    continue
                self._cond.wait()

    def _release(self, w: ReplWorker) -> None:
        with self._cond:
            self._busy.discard(w)
            if w.uses >= self.max_uses and not w.dead:
                log.debug("retiring REPL pid %s after %d uses", w.process.pid, w.uses)
                w.discard()
            if not w.dead and not self._closed:
                self._idle.append(w)
            elif not w.dead:
                w.discard()
            self._cond.notify()

    def close(self) -> None:
        """Kill every process; workers in use are killed when they are released."""
        with self._cond:
            self._closed = True
            for w in self._idle:
                w.discard()
            self._idle.clear()
            self._cond.notify_all()


def restart_delay(failures: int, max_restarts: int, backoff_s: float, what: str, error: Exception) -> float:
    """Seconds to wait before retrying after the `failures`-th crash in a row of a Lean process
    (doubling from `backoff_s`); CheckerCrash once there were more than `max_restarts`."""
    if failures > max_restarts:
        raise CheckerCrash(f"{what} {failures} times in a row: {error}") from None
    delay = backoff_s * 2 ** (failures - 1)
    log.warning("%s (%s); retrying in %.1f s", what, error, delay)
    return delay
