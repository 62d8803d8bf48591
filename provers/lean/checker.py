"""Whole-proof checking: elaborate trusted statement + untrusted proof, then read the verdict.

The text Lean elaborates is built from trusted parts only: the problem's header (already in
the REPL environment, or at the top of the file in the whole-file mode) and its statement,
followed by the proof the static guards let through. Both modes turn Lean's messages into a
verdict with the same two functions, `judge_messages` and `judge_axiom_messages`.
A proof is `verified` only when all of these hold: no message of severity error, no `sorry`
(neither a recorded sorry nor Lean's "declaration uses 'sorry'" warning), and `#print axioms`
of the theorem names only propext, Classical.choice and Quot.sound. Optionally the whole file
is then compiled with `lean` and replayed by lean4checker, independently of the REPL.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proofloop.errors import CheckerCrash
from proofloop.types import Status
from provers.lean.pool import ReplDied, ReplPool, ReplTimeout, ReplWorker, child_setup, kill_tree
from provers.lean.protocol import (
    RESOURCE_MESSAGE,
    SORRY_WARNING,
    STANDARD_AXIOMS,
    CommandResponse,
    Message,
    ReplError,
    describe,
    messages_as_dicts,
    axioms_in_text,
    parse_axioms,
    uses_sorry,
)
from provers.lean.source import LeanTask
from provers.lean.toolchain import Toolchain

log = logging.getLogger(__name__)

_REPLAY_MODULE = "ProofloopReplay"


@dataclass(frozen=True)
class Outcome:
    """What a check found, before it becomes a Verdict (status, reason, message, evidence)."""

    status: Status
    reason: str = ""
    message: str = ""
    evidence: dict[str, Any] | None = None


def proof_text(task: LeanTask, proof: str) -> str:
    """The command the REPL elaborates: the problem's statement, then the candidate's proof."""
    return f"{task.statement} {proof.strip()}\n"


def elaborate(worker: ReplWorker, task: LeanTask, proof: str, timeout_s: float, header_timeout_s: float) -> Outcome:
    """Check `proof` on one worker; ReplTimeout / ReplDied reach the caller."""
    env = worker.header_env(task.header_body, header_timeout_s)
    resp = worker.command(proof_text(task, proof), env, timeout_s)
    verdict = judge(resp, task)
    if verdict is not None:
        return verdict
    assert isinstance(resp, CommandResponse) and resp.env is not None
    return judge_axioms(worker.command(f"#print axioms {task.name}", resp.env, timeout_s), task)


def check_proof(pool: ReplPool, task: LeanTask, proof: str, timeout_s: float, header_timeout_s: float) -> Outcome:
    """Elaborate `proof` for `task` in a warm REPL of `pool` and judge the result."""
    try:
        return pool.run(task.imports, lambda w: elaborate(w, task, proof, timeout_s, header_timeout_s))
    except ReplTimeout:
        return timeout_outcome(timeout_s)
    except ReplDied as e:  # only resource deaths reach here; others became CheckerCrash
        return resource_outcome(e.stderr)


def timeout_outcome(timeout_s: float) -> Outcome:
    return Outcome(Status.UNKNOWN, "timeout", f"no answer from Lean within {timeout_s:g} s")


def resource_outcome(detail: str) -> Outcome:
    return Outcome(Status.UNKNOWN, "resource", f"Lean ran out of memory or stack: {detail.strip()[-300:]}")


def judge(resp: CommandResponse | ReplError, task: LeanTask) -> Outcome | None:
    """The REPL's answer to the proof: a rejection, `unknown`, or None when it is clean."""
    if isinstance(resp, ReplError):
        if "nknown environment" in resp.message:
            raise CheckerCrash(f"the Lean REPL lost the header environment of {task.name}: {resp.message}")
        return Outcome(Status.REJECTED, "lean", f"Lean could not process the proof: {resp.message}")
    if resp.env is None:
        raise CheckerCrash(f"the Lean REPL answered without an environment: {resp!r}")
    return judge_messages(resp.messages, recorded_sorry=bool(resp.sorries))


def judge_messages(messages: Sequence[Message], recorded_sorry: bool = False) -> Outcome | None:
    """Lean's messages about statement + proof, in either mode: a rejection, `unknown` when Lean
    gave up for lack of memory, or None when they are clean (then the axioms decide)."""
    evidence = {"messages": messages_as_dicts(messages)}
    errors = [m for m in messages if m.is_error]
    exhausted = [m for m in errors if RESOURCE_MESSAGE.search(m.data)]
    if exhausted:
        return resource_outcome(describe(exhausted))
    if errors:
        return Outcome(Status.REJECTED, "lean", describe(errors), evidence)
    warning = [m for m in messages if SORRY_WARNING.search(m.data)]
    if warning or recorded_sorry:
        return Outcome(Status.REJECTED, "sorry", describe(warning) or "the proof contains `sorry`", evidence)
    return None


def judge_axioms(resp: CommandResponse | ReplError, task: LeanTask) -> Outcome:
    """The REPL's answer to `#print axioms NAME`, judged by `judge_axiom_messages`."""
    if isinstance(resp, ReplError):
        return Outcome(Status.REJECTED, "axioms", f"`#print axioms {task.name}` failed: {resp.message}")
    return judge_axiom_messages(resp.messages, task)


def judge_axiom_messages(messages: Sequence[Message], task: LeanTask) -> Outcome:
    """Verified only if `#print axioms` names the theorem and only the standard axioms."""
    errors = [m for m in messages if m.is_error]
    if errors:
        return Outcome(Status.REJECTED, "axioms", f"`#print axioms {task.name}` failed: {describe(errors)}")
    parsed = parse_axioms(messages)
    if parsed is None:
        return Outcome(Status.REJECTED, "axioms", f"no axiom list in the output of `#print axioms {task.name}`")
    printed, axioms = parsed
    if printed not in (task.name, task.full_name) and not printed.endswith("." + task.name):
        return Outcome(Status.REJECTED, "axioms", f"`#print axioms {task.name}` printed the axioms of {printed!r}")
    extra = sorted(set(axioms) - STANDARD_AXIOMS)
    if extra:
        return Outcome(
            Status.REJECTED,
            "axioms",
            f"the proof depends on non-standard axioms: {', '.join(extra)}",
            {"axioms": axioms},
        )
    return Outcome(Status.VERIFIED, "", "", {"axioms": axioms})


def replay_with_lean4checker(toolchain: Toolchain, task: LeanTask, proof: str, timeout_s: float) -> Outcome:
    """Compile header + statement + proof with `lean` and replay it in the kernel with lean4checker."""
    assert toolchain.lean4checker is not None
    with tempfile.TemporaryDirectory(prefix="proofloop-lean4checker-") as tmp:
        src = Path(tmp) / f"{_REPLAY_MODULE}.lean"
        src.write_text(task.header + proof_text(task, proof) + f"\n#print axioms {task.name}\n", encoding="utf-8")
        lean_path = os.pathsep.join(p for p in (tmp, toolchain.env.get("LEAN_PATH", "")) if p)
        env = {**toolchain.env, "LEAN_PATH": lean_path}
        steps = [
            ("lean", [str(toolchain.lean), "-o", str(Path(tmp) / f"{_REPLAY_MODULE}.olean"), str(src)]),
            ("lean4checker", [str(toolchain.lean4checker), _REPLAY_MODULE]),
        ]
        deadline = time.monotonic() + timeout_s
        for name, argv in steps:
            outcome = _run_step(name, argv, env, tmp, deadline)
            if outcome is not None:
                return outcome
    return Outcome(Status.VERIFIED)


def _run_step(name: str, argv: list[str], env: dict[str, str], cwd: str, deadline: float) -> Outcome | None:
    left = deadline - time.monotonic()
    if left <= 0:
        return Outcome(Status.UNKNOWN, "timeout", f"the lean4checker replay ran out of time before `{name}`")
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=child_setup(0, None),
    )
    try:
        out, _ = proc.communicate(timeout=left)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        return Outcome(Status.UNKNOWN, "timeout", f"`{name}` did not finish the replay in time")
    tail = " ".join(out.strip().splitlines()[-3:])
    if proc.returncode != 0:
        return Outcome(
            Status.REJECTED, "lean4checker", f"`{name}` rejected the replay (exit {proc.returncode}): {tail}"
        )
    if name == "lean" and (SORRY_WARNING.search(out) or "error:" in out):
        return Outcome(Status.REJECTED, "lean4checker", f"`lean` reported a problem in the replay: {tail}")
    if name == "lean":
        axioms = axioms_in_text(out)
        if axioms is None or set(axioms) - STANDARD_AXIOMS:
            return Outcome(Status.REJECTED, "lean4checker", f"the replay's `#print axioms` says: {tail}")
    return None
