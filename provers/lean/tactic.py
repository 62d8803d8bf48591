"""Tactic mode: step through proof states in the REPL, and best-first proof search.

`TacticSession.run_tac` returns outcomes as values, as LeanDojo does: a `TacticState` with the
remaining goals, `ProofFinished`, or a `LeanError`. Infrastructure trouble raises. The search
expands the open state with the highest cumulative log-probability, asks a proofloop
`Generator` for candidate tactics, and stops at a node or time budget. A finished tactic
sequence counts only after it has been re-checked as a whole proof (guards, errors, sorries,
axioms), exactly as any other candidate.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from proofloop.errors import CheckerCrash, ProblemFormatError
from proofloop.generate.base import Generator, SamplingParams
from proofloop.prover import SearchResult
from proofloop.types import CheckLimits, Problem, Status, Verdict
from provers.lean.checker import Outcome, elaborate, resource_outcome, timeout_outcome
from provers.lean.guards import scan
from provers.lean.lexer import LexError, tokenize
from provers.lean.pool import ReplDied, ReplTimeout, ReplWorker
from provers.lean.protocol import ReplError, describe, uses_sorry
from provers.lean.source import LeanTask

if TYPE_CHECKING:
    from provers.lean.prover import LeanProver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TacticState:
    """Open goals at a proof state of the REPL (valid for one REPL process: `epoch`)."""

    proof_state: int
    goals: tuple[str, ...]
    epoch: int = 0

    @property
    def pp(self) -> str:
        return "\n\n".join(self.goals)


@dataclass(frozen=True)
class ProofFinished:
    proof_state: int
    status: str | None = None  # the REPL's proofStatus, where it reports one


@dataclass(frozen=True)
class LeanError:
    error: str


TacticResult = TacticState | ProofFinished | LeanError


class TacticSession:
    """One problem's proof states in a REPL held for the session: `with prover.session(...) as s:`."""

    def __init__(self, prover: "LeanProver", problem: Problem, limits: CheckLimits):
        self.prover = prover
        self.problem = problem
        self.task: LeanTask = prover.task(problem)
        self.limits = limits
        self.epoch = 0
        self._pool = None
        self._hold = None
        self.worker: ReplWorker | None = None
        self._crashes = 0

    def __enter__(self) -> "TacticSession":
        self._pool = self.prover.pool()
        self._acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def _acquire(self) -> None:
        self._hold = self._pool.worker(self.task.imports)
        self.worker = self._hold.__enter__()
        self.worker.uses += 1

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.__exit__(None, None, None)
            self._hold, self.worker = None, None

    def _restart(self, error: Exception) -> None:
        """Replace a killed or dead REPL; its proof states are gone (a new epoch begins)."""
        if self.worker is not None:
            self.worker.discard()
        self._release()
        if isinstance(error, ReplDied) and not error.resource_exhausted:
            self._crashes += 1
            if self._crashes > self._pool.max_restarts:
                raise CheckerCrash(f"the Lean REPL died {self._crashes} times in a row: {error}") from None
            time.sleep(self._pool.restart_backoff_s * 2 ** (self._crashes - 1))
        self.epoch += 1
        self._acquire()

    def start(self) -> TacticState:
        """The initial proof state: the problem's statement with `by sorry` as its proof."""
        header_timeout = self.prover.config.header_timeout_s
        while True:
            try:
                env = self.worker.header_env(self.task.header_body, header_timeout)
                resp = self.worker.command(f"{self.task.statement} by\n  sorry\n", env, self.limits.timeout_s)
                break
            except ReplTimeout as e:
                self._restart(e)
                raise
            except ReplDied as e:
                self._restart(e)  # raises CheckerCrash after max_restarts deaths in a row
                if e.resource_exhausted:
                    raise
        if isinstance(resp, ReplError) or resp.errors or not resp.sorries or resp.sorries[0].proofState is None:
            detail = resp.message if isinstance(resp, ReplError) else describe(resp.errors) or "no proof state"
            raise ProblemFormatError(
                self.problem.source or self.problem.id, self.task.line, f"the statement does not elaborate: {detail}"
            )
        self._crashes = 0
        first = resp.sorries[0]
        return TacticState(first.proofState, (first.goal,), self.epoch)

    def run_tac(self, state: TacticState, tactic: str) -> TacticResult:
        """Run one tactic; guards apply to it as to any candidate text."""
        if state.epoch != self.epoch:
            raise ValueError("this proof state belongs to a REPL that has been replaced; replay its tactics")
        try:
            hit = scan(tokenize(tactic), self.task.name)
        except LexError as e:
            return LeanError(f"guard:lexer: {e}")
        if hit is not None:
            return LeanError(f"{hit.reason}: {hit.message}")
        try:
            resp = self.worker.tactic(tactic, state.proof_state, self.limits.timeout_s)
        except ReplTimeout as e:
            self._restart(e)
            return LeanError(f"timeout: no answer within {self.limits.timeout_s:g} s")
        except ReplDied as e:
            self._restart(e)
            return LeanError(f"the REPL died: {e}")
        self._crashes = 0
        if isinstance(resp, ReplError):
            return LeanError(resp.message)
        if resp.errors:
            return LeanError(describe(resp.errors))
        if uses_sorry(resp):
            return LeanError("the tactic leaves a `sorry`")
        if not resp.goals:
            if resp.proofStatus is not None and not resp.proofStatus.startswith("Completed"):
                return LeanError(f"the REPL does not accept the finished proof: {resp.proofStatus}")
            return ProofFinished(resp.proofState, resp.proofStatus)
        return TacticState(resp.proofState, tuple(resp.goals), self.epoch)

    def replay(self, tactics: tuple[str, ...]) -> TacticResult:
        """Rebuild a state in the current REPL by running `tactics` from the start."""
        try:
            result: TacticResult = self.start()
        except (ReplTimeout, ReplDied) as e:
            return LeanError(f"replay failed to start: {e}")
        for tac in tactics:
            if not isinstance(result, TacticState):
                return LeanError(f"replay stopped before `{tac}`")
            result = self.run_tac(result, tac)
        return result

    def verify(self, proof: str) -> Verdict:
        """Check a whole proof with the prover's full check, on the REPL this session holds."""

        def runner(task: LeanTask, guarded: str) -> Outcome:
            try:
                return elaborate(self.worker, task, guarded, self.limits.timeout_s, self.prover.config.header_timeout_s)
            except ReplTimeout as e:
                self._restart(e)
                return timeout_outcome(self.limits.timeout_s)
            except ReplDied as e:
                self._restart(e)
                if e.resource_exhausted:
                    return resource_outcome(e)
                raise CheckerCrash(f"the Lean REPL died during a whole-proof check: {e}") from None

        return self.prover.check(self.problem, proof, self.limits, runner=runner)


def tactic_proof(tactics: tuple[str, ...] | list[str]) -> str:
    """A `by` block running `tactics` in order (multi-line tactics keep their inner layout)."""
    lines = []
    for tac in tactics:
        lines.extend("  " + line for line in tac.strip("\n").splitlines())
    return "by\n" + "\n".join(lines)


def tactic_prompt(problem: Problem, state: TacticState) -> str:
    """The goals in LeanDojo's `[GOAL] ... [PROOFSTEP]` format."""
    return f"[GOAL]{state.pp}[PROOFSTEP]"


def extract_tactic(completion: str) -> str:
    """The first tactic in a completion: up to a blank line, a code fence or a new `[GOAL]`."""
    text = completion
    for stop in ("[GOAL]", "```", "\n\n"):
        text = text.split(stop, 1)[0]
    return text.rstrip().lstrip("\n")


@dataclass(order=True)
class _Node:
    priority: float  # minus the cumulative log-probability: heapq pops the most likely first
    order: int
    state: TacticState = field(compare=False)
    tactics: tuple[str, ...] = field(compare=False)
    logprob: float = field(compare=False)


def best_first_search(
    prover: "LeanProver",
    problem: Problem,
    generator: Generator,
    *,
    params: SamplingParams = SamplingParams(temperature=1.0, max_new_tokens=128),
    samples: int = 8,
    max_nodes: int = 64,
    time_budget_s: float = 300.0,
    limits: CheckLimits = CheckLimits(),
    prompt: Callable[[Problem, TacticState], str] = tactic_prompt,
) -> SearchResult:
    """Best-first search over proof states, scored by cumulative log-probability of tactics."""
    started = time.monotonic()
    counter = itertools.count()
    nodes = 0

    def result(status: Status, reason: str, proof: str | None = None, verdict: Verdict | None = None) -> SearchResult:
        return SearchResult(status, proof, verdict, nodes, round(time.monotonic() - started, 3), reason)

    with TacticSession(prover, problem, limits) as session:
        try:
            root = session.start()
        except (ReplTimeout, ReplDied) as e:
            return result(Status.UNKNOWN, "timeout" if isinstance(e, ReplTimeout) else "memory")
        frontier = [_Node(0.0, next(counter), root, (), 0.0)]
        seen = {root.goals}
        while frontier:
            if nodes >= max_nodes:
                return result(Status.UNKNOWN, "node budget")
            if time.monotonic() - started > time_budget_s:
                return result(Status.UNKNOWN, "time budget")
            node = heapq.heappop(frontier)
            nodes += 1
            state = node.state
            if state.epoch != session.epoch:
                replayed = session.replay(node.tactics)
                if not isinstance(replayed, TacticState):
                    continue
                state = replayed
            completions = generator.generate([prompt(problem, state)], samples, params)[0]
            tried: set[str] = set()
            for completion in sorted(completions, key=lambda c: -c.logprob):
                tactic = extract_tactic(completion.text)
                if not tactic or tactic in tried:
                    continue
                tried.add(tactic)
                if state.epoch != session.epoch:  # a timeout or crash replaced the REPL
                    replayed = session.replay(node.tactics)
                    if not isinstance(replayed, TacticState):
                        break
                    state = replayed
                outcome = session.run_tac(state, tactic)
                tactics = (*node.tactics, tactic)
                if isinstance(outcome, ProofFinished):
                    proof = tactic_proof(tactics)
                    verdict = session.verify(proof)
                    if verdict.verified:
                        return result(Status.VERIFIED, "", proof, verdict)
                    log.info("tactic proof of %s failed the whole-proof check: %s", problem.id, verdict.reason)
                elif isinstance(outcome, TacticState) and outcome.goals not in seen:
                    seen.add(outcome.goals)
                    score = node.logprob + completion.logprob
                    heapq.heappush(frontier, _Node(-score, next(counter), outcome, tactics, score))
    return result(Status.REJECTED, "search exhausted")
