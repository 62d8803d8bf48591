"""The semantic check: a candidate's bodies substituted into the problem in Z3, one solver per condition.

`ProblemZ3` holds a problem read into its own Z3 context, reused by the checks of the problem
in one process; `Session` is one check, asserting into solvers of its own. Unsat for every
condition group means verified; a model is a counterexample (for an invariant, the failing
condition with its state and next state).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

import z3
from z3 import z3core

from proofloop.errors import CheckerCrash
from proofloop.types import CheckLimits, Status, Verdict
from provers.z3.build import to_z3, z3_sort
from provers.z3.sexpr import symbol_text
from provers.z3.sygus import SygusProblem
from provers.z3.terms import Term

if TYPE_CHECKING:
    from provers.z3.checker import Compiled

log = logging.getLogger(__name__)

CONDITIONS = ("initiation", "consecution", "safety")
MAX_VIOLATED = 5
MAX_CALLS = 10

_memory_mb: int | None = None
# Z3's memory_max_size counts everything Z3 holds in the process; below a few tens of MB it
# fails while creating a context, and some of those paths end the process with a signal.
MIN_MEMORY_MB = 64


def set_memory(mb: int) -> None:
    global _memory_mb
    if _memory_mb != mb:
        z3.set_param("memory_max_size", int(mb))
        _memory_mb = mb


def make_verdict(status: Status, start: float, reason: str = "", message: str = "", counterexample=None) -> Verdict:
    return Verdict(
        status=status,
        checker="z3",
        checker_version=z3.get_version_string(),  # checker.check adds the rules and any cross-checker
        seconds=time.perf_counter() - start,
        reason=reason,
        message=message,
        counterexample=counterexample,
    )


class ProblemZ3:
    """A problem read into its own Z3 context: constraints, assumptions and helper bodies.

    Reused by the checks of one problem in a process (creating a context and parsing the
    prelude cost more than solving a small problem). Sound because nothing a check does
    changes it: every check asserts into its own `z3.Solver`, and candidate terms only
    ever appear in that solver and in new terms. A context that saw an error or an unknown
    answer (a cancelled or out-of-memory solve) is dropped, never reused.
    """

    def __init__(self, compiled: Compiled):
        self.ctx = z3.Context()
        try:
            parsed = z3.parse_smt2_string(compiled.prelude, ctx=self.ctx)
        except z3.Z3Exception as e:
            if "memory" in z3_message(e).lower():
                raise  # check() makes it an unknown (resource) verdict
            raise CheckerCrash(f"Z3 could not read the problem: {z3_message(e)}") from None
        n = len(compiled.problem.constraints)
        self.constraints = [parsed[i] for i in range(n)]
        self.assumptions = [parsed[i] for i in range(n, len(parsed))]
        self.helpers: dict[str, z3.ExprRef] = {}
        self.lock = threading.Lock()


# A Z3 context holds about 17 MB, and Z3's memory_max_size counts every live context in the
# process: an unbounded cache would push a long-lived worker past its limit, and Z3 ends the
# process with a signal when it cannot create a context. So only the latest few are kept.
MAX_KEPT_CONTEXTS = 8
_kept: OrderedDict[int, Compiled] = OrderedDict()
_kept_lock = threading.Lock()


def _keep(compiled: Compiled, pz: ProblemZ3) -> None:
    """Cache `pz` on `compiled`, dropping the least recently cached contexts beyond the bound."""
    with _kept_lock:
        if compiled.z3_context is None:
            compiled.z3_context = pz
        _kept[id(compiled)] = compiled
        _kept.move_to_end(id(compiled))
        while len(_kept) > MAX_KEPT_CONTEXTS:
            _, old = _kept.popitem(last=False)
            old.z3_context = None  # a check holding it keeps its reference until it ends


def _drop_kept() -> None:
    with _kept_lock:
        for compiled in _kept.values():
            compiled.z3_context = None
        _kept.clear()
    gc.collect()


def _room_for_context() -> None:
    """Raise MemoryError (an unknown/resource verdict) where a new context would pass Z3's limit."""
    if not _memory_mb:
        return
    limit = _memory_mb * 2**20
    if z3core.Z3_get_estimated_alloc_size() + CONTEXT_BYTES > limit:
        _drop_kept()
        if z3core.Z3_get_estimated_alloc_size() + CONTEXT_BYTES > limit:
            raise MemoryError("Z3 holds too much memory to create a context")


CONTEXT_BYTES = 32 * 2**20  # a new context and its prelude, with room to spare


@contextlib.contextmanager
def problem_z3(compiled: Compiled) -> Iterator[ProblemZ3]:
    """The problem's cached Z3 context, held for one check (a private one if another thread holds it)."""
    cached = compiled.z3_context
    if cached is None or not cached.lock.acquire(blocking=False):
        _room_for_context()
        cached = ProblemZ3(compiled)
        cached.lock.acquire()
    _keep(compiled, cached)
    clean = False
    try:
        yield cached
        clean = True
    finally:
        cached.lock.release()
        if not clean and compiled.z3_context is cached:
            compiled.z3_context = None


class Session:
    """One semantic check: its own solvers, in the problem's Z3 context."""

    def __init__(
        self, compiled: Compiled, pz: ProblemZ3, bodies: dict[str, Term], limits: CheckLimits, start: float
    ):
        self.compiled = compiled
        self.problem = compiled.problem
        self.bodies = bodies
        self.limits = limits
        self.start = start
        self.deadline = start + limits.timeout_s
        set_memory(limits.memory_mb)
        self.ctx = pz.ctx
        self._helper_z3 = pz.helpers
        self.constraints = pz.constraints
        self.assumptions = pz.assumptions

    def run(self) -> Verdict:
        try:
            self.subst = self._substitution()
        except z3.Z3Exception as e:
            return make_verdict(Status.REJECTED, self.start, "logic", f"Z3 refused the candidate: {z3_message(e)}")
        for label, indices in self._groups():
            verdict = self._check_group(label, indices)
            if verdict is not None:
                return verdict
        return make_verdict(Status.VERIFIED, self.start)

    def _substitution(self) -> list[tuple[z3.FuncDeclRef, z3.ExprRef]]:
        pairs = []
        for f in self.problem.synth_funs:
            sorts = [z3_sort(s, self.ctx) for s in f.param_sorts]
            decl = z3.Function(f.name, *sorts, z3_sort(f.sort, self.ctx))
            params = [z3.Var(i, s) for i, s in enumerate(sorts)]
            pairs.append((decl, to_z3(self.bodies[f.name], self.ctx, params, self._call_helper)))
        return pairs

    def _call_helper(self, name: str, args: list[z3.ExprRef]) -> z3.ExprRef:
        if name not in self._helper_z3:
            helper = self.problem.helper(name)
            sorts = [z3_sort(s, self.ctx) for s in helper.param_sorts]  # type: ignore[union-attr]
            params = [z3.Var(i, s) for i, s in enumerate(sorts)]
            self._helper_z3[name] = to_z3(self.compiled.helper_term(name), self.ctx, params, self._call_helper)
        return z3.substitute_vars(self._helper_z3[name], *args) if args else self._helper_z3[name]

    def _groups(self) -> list[tuple[str, list[int]]]:
        return condition_groups(self.problem)

    def _apply(self, e: z3.ExprRef) -> z3.ExprRef:
        return z3.substitute_funs(e, *self.subst) if self.subst else e

    def _check_group(self, label: str, indices: list[int]) -> Verdict | None:
        remaining = self.deadline - time.perf_counter()
        if remaining <= 0:
            return make_verdict(
                Status.UNKNOWN, self.start, "timeout", f"the time limit of {self.limits.timeout_s} s passed"
            )
        solver = z3.Solver(ctx=self.ctx)
        solver.set("timeout", max(1, int(remaining * 1000)))
        if self.assumptions:
            solver.add(self._apply(_conjunction(self.assumptions, self.ctx)))
        # One substitution over the whole conjunction: the problem DAG stays shared.
        goal = self._apply(_conjunction([self.constraints[i] for i in indices], self.ctx))
        solver.add(z3.Not(goal))
        try:
            result = solver.check()
        except z3.Z3Exception as e:
            if "memory" in z3_message(e).lower():
                return make_verdict(
                    Status.UNKNOWN, self.start, "resource", f"Z3 ran out of memory ({self.limits.memory_mb} MB)"
                )
            raise CheckerCrash(f"Z3 failed: {z3_message(e)}") from None
        if result == z3.unsat:
            return None
        if result == z3.sat:
            model = solver.model()
            if label:
                return self._invariant_failure(label, model)
            return self._counterexample(model, indices)
        return self._unknown(solver.reason_unknown())

    def _unknown(self, why: str) -> Verdict:
        log.debug("z3 answered unknown after %.3f s: %s", time.perf_counter() - self.start, why)
        low = why.lower()
        if "memory" in low:
            reason, message = "resource", f"Z3 ran out of memory ({self.limits.memory_mb} MB)"
        elif "timeout" in low or "canceled" in low or time.perf_counter() >= self.deadline:
            reason, message = "timeout", f"Z3 gave no answer within {self.limits.timeout_s} s"
        else:
            reason, message = "incomplete", f"Z3 answered unknown: {why}"
        return make_verdict(Status.UNKNOWN, self.start, reason, message)

    def _value(self, model: z3.ModelRef, e: z3.ExprRef) -> str:
        return model.eval(e, model_completion=True).sexpr()

    def _values(self, model: z3.ModelRef, variables) -> dict[str, str]:
        return {name: self._value(model, z3.Const(name, z3_sort(sort, self.ctx))) for name, sort in variables}

    def _counterexample(self, model: z3.ModelRef, indices: list[int]) -> Verdict:
        values = self._values(model, self.problem.variables)
        violated = []
        for i in indices:
            if len(violated) >= MAX_VIOLATED:
                break
            if z3.is_false(model.eval(self._apply(self.constraints[i]), model_completion=True)):
                text = self.problem.constraints[i].text
                calls = self._calls(model, self.constraints[i])
                violated.append({"constraint": text if len(text) <= 500 else text[:497] + "...", "calls": calls})
        shown = ", ".join(f"{k} = {v}" for k, v in list(values.items())[:12])
        message = f"counterexample: {shown}" if shown else "counterexample"
        if violated:
            first = violated[0]
            calls = "; ".join(f"{k} = {v}" for k, v in list(first["calls"].items())[:4])
            message += f"; violates {first['constraint'][:200]}" + (f" where {calls}" if calls else "")
        return make_verdict(
            Status.REJECTED, self.start, "counterexample", message, {"values": values, "violated": violated}
        )

    def _calls(self, model: z3.ModelRef, constraint: z3.ExprRef) -> dict[str, str]:
        names = {f.name: len(f.params) for f in self.problem.synth_funs}
        calls: dict[str, str] = {}
        seen: set[int] = set()
        stack = [constraint]
        while stack and len(seen) < 20_000 and len(calls) < MAX_CALLS:
            e = stack.pop()
            if e.get_id() in seen:
                continue
            seen.add(e.get_id())
            if not z3.is_app(e):
                continue
            decl = e.decl()
            if decl.kind() == z3.Z3_OP_UNINTERPRETED and names.get(decl.name()) == e.num_args():
                args = [self._value(model, self._apply(a)) for a in e.children()]
                key = f"({symbol_text(decl.name())} {' '.join(args)})" if args else symbol_text(decl.name())
                calls[key] = self._value(model, self._apply(e))
            stack.extend(reversed(e.children()))
        return calls

    def _invariant_failure(self, label: str, model: z3.ModelRef) -> Verdict:
        state_vars = [v for inv in self.problem.invariants for v in inv.state]
        primed_vars = [v for inv in self.problem.invariants for v in inv.primed]
        state = self._values(model, state_vars)
        next_state = self._values(model, primed_vars) if label == "consecution" else {}
        inv = self.problem.invariants[0]
        at = ", ".join(f"{k} = {v}" for k, v in list(state.items())[:12])
        if label == "initiation":
            message = f"initiation fails: {inv.pre} holds but {inv.inv} does not at {at}"
        elif label == "consecution":
            to = ", ".join(f"{k} = {v}" for k, v in list(next_state.items())[:12])
            message = f"consecution fails: {inv.inv} holds at {at} but not after the transition to {to}"
        else:
            message = f"safety fails: {inv.inv} holds but {inv.post} does not at {at}"
        counterexample = {"condition": label, "state": state, "next_state": next_state}
        return make_verdict(Status.REJECTED, self.start, "counterexample", message, counterexample)


def condition_groups(problem: SygusProblem) -> list[tuple[str, list[int]]]:
    """The queries a check makes: (label, constraint indices); each holds on its own."""
    constraints = problem.constraints
    if problem.kind == "fun":
        return [("", list(range(len(constraints))))]
    groups = [(c, [i for i, k in enumerate(constraints) if k.label == c]) for c in CONDITIONS]
    plain = [i for i, k in enumerate(constraints) if not k.label]
    return [g for g in groups + [("", plain)] if g[1]]


class Discard(Exception):
    """Leaves the problem's Z3 context unused from now on, with the verdict reached in it."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict


def _conjunction(terms: list[z3.ExprRef], ctx: z3.Context) -> z3.BoolRef:
    # Through the C API: z3.And coerces each argument, which is slow for many constraints.
    if len(terms) == 1:
        return terms[0]
    arr = (z3.Ast * len(terms))()
    for i, t in enumerate(terms):
        arr[i] = t.as_ast()
    return z3.BoolRef(z3core.Z3_mk_and(ctx.ref(), len(terms), arr), ctx)


def z3_message(e: z3.Z3Exception) -> str:
    value = e.value if hasattr(e, "value") else str(e)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())[:300]
