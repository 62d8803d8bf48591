"""Checking a candidate against a SyGuS problem with Z3.

The problem side is trusted: it is printed once per problem (cached by text) as an SMT-LIB
prelude in which every synth-fun is an uninterpreted function, and Z3 reads that prelude once
per problem and process into a `z3.Context` that later checks of the problem reuse, each with
its own solver (see ProblemZ3). The candidate side is not: it is parsed, normalised
and elaborated by this package (see candidate.py), checked for signature, scope, logic and
grammar, and rebuilt with the Z3 API; its text never reaches a solver script. The candidate
bodies then replace the uninterpreted functions (`z3.substitute_funs`, which keeps the
problem's DAG shared) and Z3 decides `assumptions /\\ not (and constraints)`: unsat means
verified. Invariant problems check initiation, consecution and safety one after another and
report the first that fails.

Rejection reasons: parse, too-large, too-deep, encoding, command, signature, scope, logic,
grammar, counterexample. Unknown reasons: timeout (the limit passed or Z3 gave up on time),
resource (Z3's memory limit), incomplete (Z3 answered unknown for another reason),
checker-error (an unexpected error in this checker on this candidate; logged with its traceback).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import z3

from proofloop.errors import CheckerCrash, ConfigError, ProblemFormatError, ProofloopError
from proofloop.rules import rules_version
from proofloop.types import CheckLimits, Problem, Status, Verdict
from provers.z3.candidate import (
    MAX_TERM_DEPTH,
    MAX_TERM_NODES,
    Definition,
    Normalised,
    Rejection,
    normal_forms,
)
from provers.z3.grammar import Rules, compile_grammar, derivable
from provers.z3.sexpr import symbol_text, to_text
from provers.z3.sygus import SygusProblem, SynthFun, parse_problem
from provers.z3.session import MIN_MEMORY_MB, Discard, ProblemZ3, Session, condition_groups, problem_z3, set_memory
from provers.z3.session import make_verdict as _verdict
from provers.z3.session import z3_message as _z3_message
from provers.z3.terms import (
    ALL_OPS,
    CALL,
    RESERVED,
    ElabError,
    FunSig,
    Scope,
    Term,
    elaborate,
    instantiate,
    parse_sort,
    postorder,
    substitute,
    term_text,
    var,
)

log = logging.getLogger(__name__)



@dataclass
class Compiled:
    """A problem prepared for checking: its SMT-LIB prelude, grammars and helper signatures."""

    problem: SygusProblem
    prelude: str
    helpers: dict[str, FunSig]
    rules: dict[str, Rules | None]
    symbols: set[str]
    _helper_terms: dict[str, Term] = field(default_factory=dict)
    z3_context: ProblemZ3 | None = None  # the Z3 context checks of this problem reuse (see ProblemZ3)
    _problem_terms: tuple[list[Term], list[Term]] | None = None

    def problem_terms(self) -> tuple[list[Term], list[Term]]:
        """The constraints and assumptions elaborated by terms.py (the cross-check builds these)."""
        if self._problem_terms is None:
            from provers.z3.cvc5check import problem_terms

            self._problem_terms = problem_terms(self.problem)
        return self._problem_terms

    def helper_term(self, name: str) -> Term:
        """The body of problem helper `name`, elaborated with its parameters as VAR i."""
        if name not in self._helper_terms:
            helper = self.problem.helper(name)
            assert helper is not None
            earlier = {h.name: self.helpers[h.name] for h in self.problem.helpers[: self.problem.helpers.index(helper)]}
            scope = Scope(
                theories=self.problem.theories,
                logic=self.problem.logic,
                locals={p: var(p, s, i) for i, (p, s) in enumerate(helper.params)},
                functions=earlier,
                variables=dict(self.problem.variables),
            )
            self._helper_terms[name] = elaborate(helper.body, scope)
        return self._helper_terms[name]


def prelude_text(problem: SygusProblem) -> str:
    """The trusted SMT-LIB text of a problem, synth-funs declared as uninterpreted functions."""
    lines = []
    for f in problem.synth_funs:
        lines.append(f"(declare-fun {symbol_text(f.name)} ({' '.join(f.param_sorts)}) {f.sort})")
    for name, sort in problem.variables:
        lines.append(f"(declare-const {symbol_text(name)} {sort})")
    for h in problem.helpers:
        params = " ".join(f"({symbol_text(p)} {s})" for p, s in h.params)
        lines.append(f"(define-fun {symbol_text(h.name)} ({params}) {h.sort} {to_text(h.body, smtlib=True)})")
    for c in problem.constraints + problem.assumptions:
        lines.append(f"(assert {to_text(c.term, smtlib=True)})")
    return "\n".join(lines)


@functools.lru_cache(maxsize=128)
def compile_text(text: str) -> Compiled:
    """Parse and prepare a problem for checking (cached by the problem text)."""
    problem = parse_problem(text)
    helpers = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
    rules = {
        f.name: compile_grammar(f, helpers, problem.theories, problem.logic) if f.grammar else None
        for f in problem.synth_funs
    }
    symbols = {n for n, _ in problem.variables} | set(helpers)
    compiled = Compiled(problem, prelude_text(problem), helpers, rules, symbols)
    _check_assumptions_satisfiable(compiled)
    return compiled


def _check_assumptions_satisfiable(compiled: Compiled) -> None:
    """Refuse a problem whose assumptions no input satisfies: every candidate would verify."""
    problem = compiled.problem
    if not problem.assumptions:
        return
    ctx = z3.Context()
    parsed = z3.parse_smt2_string(compiled.prelude, ctx=ctx)
    solver = z3.Solver(ctx=ctx)
    solver.set("timeout", 2000)  # unknown is let through: only a proof of emptiness refuses
    solver.add(*[parsed[i] for i in range(len(problem.constraints), len(parsed))])
    if solver.check() == z3.unsat:
        raise ProblemFormatError(
            None, problem.assumptions[0].line, "no input satisfies the assumptions, so every candidate would verify"
        )


_vacuity = threading.local()


def check_not_vacuous(compiled: Compiled) -> None:
    """Refuse a problem whose constraints hold whatever the synthesised functions are.

    One query, the functions left uninterpreted: if no input (within the assumptions) and no
    interpretation violates a constraint, every candidate would verify. Unknown is let through.
    The context is reused per thread: a fresh Z3 context costs more than the query.
    """
    problem = compiled.problem
    if not hasattr(_vacuity, "solver"):
        _vacuity.ctx = z3.Context()
        _vacuity.solver = z3.Solver(ctx=_vacuity.ctx)
    ctx, solver = _vacuity.ctx, _vacuity.solver
    parsed = z3.parse_smt2_string(compiled.prelude, ctx=ctx)
    constraints = [parsed[i] for i in range(len(problem.constraints))]
    solver.reset()
    solver.set("timeout", 1000)  # unknown (nonlinear, quantified) is let through
    solver.add(*[parsed[i] for i in range(len(problem.constraints), len(parsed))])
    solver.add(z3.Not(z3.And(*constraints, ctx)) if constraints else z3.BoolVal(False, ctx))
    if solver.check() == z3.unsat:
        line = problem.constraints[0].line if problem.constraints else None
        raise ProblemFormatError(
            None, line, "the constraints hold for every function (a vacuous problem): every candidate would verify"
        )


def compiled_for(problem: Problem, *, refuse_vacuous: bool = False) -> Compiled:
    """The compiled form of `problem`; a bad problem text (or, with `refuse_vacuous`, a vacuous
    one) raises an error naming the problem."""
    try:
        compiled = compile_text(problem.text)
        if refuse_vacuous:
            check_not_vacuous(compiled)
        return compiled
    except ProblemFormatError as e:
        raise type(e)(problem.source or problem.id, e.line, e.message) from None


# ---------------------------------------------------------------------------------------------
# The candidate side: everything up to and including the grammar check.


def front_end(compiled: Compiled, candidate: str | bytes) -> dict[str, Term]:
    """Check a candidate up to its grammar; returns each synth-fun's body, helpers inlined."""
    definitions, forms = normal_forms(candidate)
    problem = compiled.problem
    seen: set[str] = set()
    for d in definitions:
        if d.name in seen:
            raise Rejection("signature", f"{d.name} is defined twice")
        seen.add(d.name)
        names = [p for p, _ in d.params]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise Rejection("signature", f"parameter {twice} of {d.name} is declared twice")
    by_name = {d.name: d for d in definitions}
    for f in problem.synth_funs:
        if f.name not in by_name:
            raise Rejection("signature", f"missing definition of {f.name}; expected {_signature_text(f)}")
        _check_signature(f, by_name[f.name])
    _check_helper_names(compiled, definitions)
    terms = _elaborate_all(compiled, definitions, forms)
    if len(definitions) == len(problem.synth_funs):
        bodies = {f.name: terms[f.name] for f in problem.synth_funs}
    else:
        _check_used(problem, terms)
        bodies = _inline(problem, definitions, terms)
    for f in problem.synth_funs:
        rules = compiled.rules[f.name]
        if rules is not None:
            _check_grammar(f, rules, bodies[f.name], by_name[f.name])
    return bodies


def _signature_text(f: SynthFun) -> str:
    params = " ".join(f"({symbol_text(p)} {s})" for p, s in f.params)
    return f"(define-fun {symbol_text(f.name)} ({params}) {f.sort} ...)"


def _sort(datum, d: Definition) -> str:
    try:
        return parse_sort(datum)
    except ElabError as e:
        raise Rejection("signature", f"{d.name}: {e.message}") from None


def _check_signature(f: SynthFun, d: Definition) -> None:
    if len(d.params) != len(f.params):
        raise Rejection(
            "signature",
            f"{f.name} takes {len(f.params)} parameters, the candidate has {len(d.params)}; expected {_signature_text(f)}",
        )
    for i, ((name, datum), (_, expected)) in enumerate(zip(d.params, f.params)):
        if _sort(datum, d) != expected:
            raise Rejection(
                "signature", f"parameter {i + 1} ({name}) of {f.name} must be {expected}, not {to_text(datum)}"
            )
    if _sort(d.sort, d) != f.sort:
        raise Rejection("signature", f"{f.name} must return {f.sort}, not {to_text(d.sort)}")


def _check_helper_names(compiled: Compiled, definitions: list[Definition]) -> None:
    synth = {f.name for f in compiled.problem.synth_funs}
    params = {p: d.name for d in definitions for p, _ in d.params}
    for d in definitions:
        if d.name in synth:
            continue
        if d.name in ALL_OPS or d.name in RESERVED:
            raise Rejection("scope", f"helper {d.name} shadows a builtin")
        if d.name in compiled.symbols:
            raise Rejection("scope", f"helper {d.name} shadows {d.name} of the problem")
        if d.name in params:
            raise Rejection("scope", f"helper {d.name} shadows a parameter of {params[d.name]}")


class _Barred(Mapping):
    """Names a definition may not use, with the reason; computed on lookup (candidates may be long)."""

    def __init__(self, problem: SygusProblem, current: str, later: set[str]):
        self.problem = problem
        self.current = current
        self.later = later

    def __getitem__(self, name: str) -> str:
        if name == self.current:
            return f"recursive call to {name} is not allowed"
        if self.problem.synth_fun(name) is not None:
            return f"{self.current} may not call {name}, another function being synthesised"
        if name in self.later:
            return f"{name} is used before its definition"
        helper = self.problem.helper(name)
        if helper is not None and helper.uses_variables:
            return f"{name} mentions the problem's declared variables, so a candidate may not call it"
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def _elaborate_all(
    compiled: Compiled, definitions: list[Definition], forms: list[Normalised | None]
) -> dict[str, Term]:
    """Elaborate each definition in order; each sees the problem's helpers and the earlier ones."""
    problem = compiled.problem
    available = {h.name: compiled.helpers[h.name] for h in problem.helpers if not h.uses_variables}
    variables = dict(problem.variables)
    later = {d.name for d in definitions}
    terms: dict[str, Term] = {}
    for d, form in zip(definitions, forms):
        later.discard(d.name)
        names = list(form.names) if form is not None else [p for p, _ in d.params]
        # Parameter nodes carry the name the candidate wrote, so messages read naturally.
        locals_ = {n: var(p, _sort(s, d), i) for i, (n, (p, s)) in enumerate(zip(names, d.params))}
        synth = problem.synth_fun(d.name)
        has_grammar = compiled.rules.get(d.name) is not None if synth else all(compiled.rules.values())
        scope = Scope(
            theories=problem.theories,
            logic=problem.logic,
            locals=locals_,
            functions=available,
            variables=variables,
            variables_allowed=False,
            barred=_Barred(problem, d.name, later),  # type: ignore[arg-type]
            linear="nonlinear" not in problem.theories and not has_grammar,
            max_depth=MAX_TERM_DEPTH,
            max_nodes=MAX_TERM_NODES,
        )
        try:
            term = elaborate(form.body if form is not None else d.body, scope)
        except ElabError as e:
            raise Rejection(e.reason, f"{d.name}: {e.message}") from None
        sort = _sort(d.sort, d)
        if term.sort != sort:
            raise Rejection("signature", f"the body of {d.name} is {term.sort}, but {d.name} is declared {sort}")
        terms[d.name] = term
        if synth is None:
            available[d.name] = FunSig(d.name, tuple(_sort(s, d) for _, s in d.params), sort)
    return terms


def _calls(term: Term) -> set[str]:
    return {node.op for node in postorder(term) if node.kind == CALL}


def _check_used(problem: SygusProblem, terms: dict[str, Term]) -> None:
    used: set[str] = set()
    stack = [f.name for f in problem.synth_funs]
    while stack:
        name = stack.pop()
        if name in used:
            continue
        used.add(name)
        stack.extend(c for c in _calls(terms[name]) if c in terms)
    extra = [n for n in terms if n not in used]
    if extra:
        raise Rejection(
            "signature", f"extra definition {extra[0]} is not used by {', '.join(f.name for f in problem.synth_funs)}"
        )


def _inline(problem: SygusProblem, definitions: list[Definition], terms: dict[str, Term]) -> dict[str, Term]:
    inlined: dict[str, Term] = {}
    for d in definitions:

        def mapping(node: Term, args: tuple[Term, ...]) -> Term | None:
            if node.kind == CALL and node.op in inlined:
                return instantiate(inlined[node.op], args)
            return None

        body = substitute(terms[d.name], mapping)
        if len(postorder(body)) > MAX_TERM_NODES:
            raise Rejection("too-large", f"{d.name} has more than {MAX_TERM_NODES} nodes once helpers are inlined")
        if body.depth > MAX_TERM_DEPTH:
            raise Rejection(
                "too-deep", f"{d.name} is nested deeper than {MAX_TERM_DEPTH} levels once helpers are inlined"
            )
        inlined[d.name] = body
    return {f.name: inlined[f.name] for f in problem.synth_funs}


def _check_grammar(f: SynthFun, rules: Rules, body: Term, d: Definition) -> None:
    ok, culprit = derivable(rules, body)
    if ok:
        return
    names = [p for p, _ in d.params]
    if culprit is not None:
        shown = term_text(culprit, limit=60, param_names=names)
        raise Rejection("grammar", f"{f.name}: {shown} is not generated by any nonterminal of the grammar")
    raise Rejection("grammar", f"{f.name}: the body is not derivable from the start symbol {rules.start}")


# ---------------------------------------------------------------------------------------------
# The check: the front end here, the semantic check in session.py, the cross-check in cvc5check.py.


def check(problem: Problem, candidate: str | bytes, limits: CheckLimits | None = None) -> Verdict:
    """Check an untrusted candidate against `problem`; every outcome is a Verdict.

    With `limits.cross_check` ("cvc5") every verdict carries both checkers' versions, and a
    candidate the two solvers judge differently is `disputed`.
    """
    limits = limits or CheckLimits()
    verdict = _check(problem, candidate, limits)
    return dataclasses.replace(verdict, checker_version=checker_version(limits.cross_check))


def checker_version(cross_check: str = "") -> str:
    """Z3's version, the cross-checker's when there is one, and the version of the front end's
    rules (proofloop.rules): "4.16.0; rules 1a2b3c4d", "4.16.0, cvc5 1.4.2; rules 1a2b3c4d"."""
    rules = f"rules {rules_version(__name__)}"  # Z3Prover.rules_version
    if not cross_check:
        return f"{z3.get_version_string()}; {rules}"
    if cross_check != "cvc5":
        raise ConfigError(f"cross_check: unknown checker {cross_check!r}; the Z3 prover cross-checks with cvc5")
    from provers.z3 import cvc5check

    return f"{z3.get_version_string()}, cvc5 {cvc5check.version()}; {rules}"


def _cross_check(verdict: Verdict, compiled: Compiled, bodies: dict[str, Term], limits: CheckLimits, start: float) -> Verdict:
    """Z3's verdict confirmed or disputed by cvc5 (only verdicts Z3 reached by solving are asked)."""
    from provers.z3 import cvc5check

    if verdict.status is Status.UNKNOWN:
        return verdict
    groups = [indices for _, indices in condition_groups(compiled.problem)]
    outcome = cvc5check.check(compiled, bodies, groups, start + limits.timeout_s)
    return cvc5check.combine(verdict, outcome, time.perf_counter() - start)


def _check(problem: Problem, candidate: str | bytes, limits: CheckLimits) -> Verdict:
    start = time.perf_counter()
    compiled = compiled_for(problem)
    if limits.memory_mb < MIN_MEMORY_MB:
        message = f"a memory limit of {limits.memory_mb} MB is below the {MIN_MEMORY_MB} MB Z3 needs to start"
        return _verdict(Status.UNKNOWN, start, "resource", message)
    try:
        bodies = front_end(compiled, candidate)
        set_memory(limits.memory_mb)  # before a context is made: the limit bounds what the cache may hold
        with problem_z3(compiled) as pz:
            verdict = Session(compiled, pz, bodies, limits, start).run()
            if verdict.status is Status.UNKNOWN:
                raise Discard(verdict)
        if limits.cross_check:
            verdict = _cross_check(verdict, compiled, bodies, limits, start)
        return verdict
    except Discard as d:
        return d.verdict
    except Rejection as r:
        return _verdict(Status.REJECTED, start, r.reason, " ".join(r.message.split()))
    except ProofloopError:
        raise
    except MemoryError:
        return _verdict(Status.UNKNOWN, start, "resource", f"the check ran out of memory ({limits.memory_mb} MB)")
    except z3.Z3Exception as e:
        if "memory" in _z3_message(e).lower():
            return _verdict(Status.UNKNOWN, start, "resource", f"Z3 ran out of memory ({limits.memory_mb} MB)")
        raise CheckerCrash(f"Z3 failed: {_z3_message(e)}") from None
    except Exception as e:
        # A slip in this checker on one candidate must not fail the batch around it; the
        # verdict is unknown (never verified) and the traceback is logged for a bug report.
        log.exception("checker error on a candidate for %s", problem.id)
        return _verdict(Status.UNKNOWN, start, "checker-error", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
