"""The SyGuS-IF loader: problem text -> `SygusProblem`, plain picklable dataclasses.

Reads SyGuS-IF 2.x and the v1 forms common in public benchmarks: `set-logic`, `synth-fun`
with or without a grammar (v2 predeclared nonterminals, v1 grammars without them,
`Constant`/`Variable`/`InputVariable`/`LocalVariable` productions), `synth-inv` and
`synth-fun ... Bool` with `inv-constraint`, `declare-var`, v1 `declare-primed-var`,
`define-fun`, `constraint`, `assume`, `check-synth`; `set-option`, `set-info` and
`set-feature` are ignored. Logics SAT, LIA, NIA, BV and ALL (with or without `QF_`).

`inv-constraint inv pre trans post` expands, per SyGuS-IF 2.1, into three labelled
constraints over state variables named like the parameters of `inv` and their primed copies
(`x!`): initiation `(=> (pre x) (inv x))`, consecution `(=> (and (inv x) (trans x x!)) (inv
x!))` and safety `(=> (inv x) (post x))`.

Problem statements are trusted: they may use any operator of their logic's theories
(nonlinear `*` included); candidates are held to the logic strictly. A well-formed feature
this prover does not handle raises `UnsupportedFeature`; malformed text raises
`ProblemFormatError`; both name the file and line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from proofloop.errors import ProblemFormatError, UnsupportedFeature
from provers.z3.sexpr import ParseError, SExpr, Symbol, parse_all, to_text
from provers.z3.terms import (
    ALL_OPS,
    BOOL,
    HOLE,
    RESERVED,
    ElabError,
    FunSig,
    Scope,
    Term,
    elaborate,
    logic_theories,
    parse_sort,
    var,
)

# Problems are trusted but pickled between processes; deeper nesting is refused.
MAX_PROBLEM_DEPTH = 400

IGNORED_COMMANDS = {"set-option", "set-info", "set-feature", "check-synth"}
UNSUPPORTED_COMMANDS = {
    "define-sort",
    "declare-sort",
    "declare-datatype",
    "declare-datatypes",
    "define-fun-rec",
    "define-funs-rec",
    "declare-fun",
    "declare-const",
    "chc-constraint",
    "optimize-synth",
    "declare-weight",
    "declare-oracle-fun",
    "oracle-constraint",
    "oracle-assume",
    "oracle-constraint-io",
    "oracle-constraint-ioa",
    "oracle-constraint-membership",
    "oracle-constraint-poswitness",
    "oracle-constraint-negwitness",
    "oracle-constraint-equiv",
    "oracle-constraint-cex",
}


@dataclass(frozen=True)
class Nonterminal:
    name: str
    sort: str
    productions: tuple[SExpr, ...]


@dataclass(frozen=True)
class Grammar:
    """A synth-fun grammar; the first nonterminal is the start symbol."""

    nonterminals: tuple[Nonterminal, ...]

    @property
    def start(self) -> Nonterminal:
        return self.nonterminals[0]


@dataclass(frozen=True)
class SynthFun:
    name: str
    params: tuple[tuple[str, str], ...]
    sort: str
    grammar: Grammar | None
    line: int
    invariant: bool = False

    @property
    def param_sorts(self) -> tuple[str, ...]:
        return tuple(sort for _, sort in self.params)


@dataclass(frozen=True)
class DefineFun:
    name: str
    params: tuple[tuple[str, str], ...]
    sort: str
    body: SExpr
    line: int
    # The body mentions declared variables (directly or through another helper), as the
    # transition relations of some invariant benchmarks do; candidates may not call it.
    uses_variables: bool = False

    @property
    def param_sorts(self) -> tuple[str, ...]:
        return tuple(sort for _, sort in self.params)


@dataclass(frozen=True)
class Constraint:
    """A constraint or assumption; `label` names the invariant condition it stands for."""

    term: SExpr
    line: int
    label: str = ""

    @property
    def text(self) -> str:
        return to_text(self.term)


@dataclass(frozen=True)
class InvConstraint:
    inv: str
    pre: str
    trans: str
    post: str
    state: tuple[tuple[str, str], ...]
    primed: tuple[tuple[str, str], ...]
    line: int


@dataclass(frozen=True)
class SygusProblem:
    logic: str
    synth_funs: tuple[SynthFun, ...]
    helpers: tuple[DefineFun, ...]
    variables: tuple[tuple[str, str], ...]
    constraints: tuple[Constraint, ...]
    assumptions: tuple[Constraint, ...]
    invariants: tuple[InvConstraint, ...]

    @property
    def kind(self) -> str:
        return "inv" if self.invariants else "fun"

    @property
    def theories(self) -> frozenset[str]:
        return logic_theories(self.logic) or frozenset()

    def synth_fun(self, name: str) -> SynthFun | None:
        return next((f for f in self.synth_funs if f.name == name), None)

    def helper(self, name: str) -> DefineFun | None:
        return next((h for h in self.helpers if h.name == name), None)


class _Refusal(Exception):
    """Raised inside the loader; turned into ProblemFormatError/UnsupportedFeature with the path."""

    def __init__(self, line: int | None, message: str, unsupported: bool = False):
        self.line = line
        self.message = message
        self.unsupported = unsupported


class _Loader:
    def __init__(self) -> None:
        self.logic = ""
        self.theories: frozenset[str] = logic_theories("ALL")  # type: ignore[assignment]
        self.synth_funs: list[SynthFun] = []
        self.helpers: list[DefineFun] = []
        self.variables: dict[str, str] = {}
        self.constraints: list[Constraint] = []
        self.assumptions: list[Constraint] = []
        self.invariants: list[InvConstraint] = []
        self.functions: dict[str, FunSig] = {}
        self.constrained: set[str] = set()  # synth-funs some constraint mentions

    def run(self, forms: list[tuple[SExpr, int]]) -> SygusProblem:
        for form, line in forms:
            try:
                self.command(form, line)
            except ElabError as e:
                raise _Refusal(line, _feature(e.message) if e.unsupported else e.message, e.unsupported) from None
        if not self.synth_funs:
            raise _Refusal(None, "no synth-fun or synth-inv command")
        if self.invariants and self.assumptions:
            # Assumptions restrict every query; beside an inv-constraint they would restrict the
            # state variables too, which SyGuS-IF's fresh state variables never are.
            raise _Refusal(self.assumptions[0].line, _feature("assume beside inv-constraint"), True)
        # A function no constraint mentions would verify whatever its candidate says.
        if not self.constraints:
            raise _Refusal(None, "no constraint: every candidate would verify")
        free = [f.name for f in self.synth_funs if f.name not in self.constrained]
        if free:
            raise _Refusal(None, f"no constraint mentions {', '.join(free)}: any candidate for it would verify")
        return SygusProblem(
            logic=self.logic or "ALL",
            synth_funs=tuple(self.synth_funs),
            helpers=tuple(self.helpers),
            variables=tuple(self.variables.items()),
            constraints=tuple(self.constraints),
            assumptions=tuple(self.assumptions),
            invariants=tuple(self.invariants),
        )

    def command(self, form: SExpr, line: int) -> None:
        if not isinstance(form, tuple) or not form or not isinstance(form[0], Symbol):
            raise _Refusal(line, f"expected a command, got {to_text(form)[:80]}")
        head = str(form[0])
        handler = _HANDLERS.get(head)
        if handler is not None:
            handler(self, form, line)
        elif head in IGNORED_COMMANDS:
            return
        elif head in UNSUPPORTED_COMMANDS:
            raise _Refusal(line, _feature(f"command {head}"), True)
        else:
            raise _Refusal(line, f"unknown command {head}")

    def scope(self, **kwargs) -> Scope:
        return Scope(theories=self.theories, logic=self.logic or "ALL", **kwargs)

    # -- commands ------------------------------------------------------------------------------

    def set_logic(self, form: tuple, line: int) -> None:
        if len(form) != 2 or not isinstance(form[1], Symbol):
            raise _Refusal(line, "malformed set-logic")
        theories = logic_theories(form[1])
        if theories is None:
            raise _Refusal(line, _feature(f"logic {form[1]}"), True)
        self.logic, self.theories = str(form[1]), theories

    def declare_var(self, form: tuple, line: int, primed: bool = False) -> None:
        if len(form) != 3 or not isinstance(form[1], Symbol):
            raise _Refusal(line, f"malformed {form[0]}: expected ({form[0]} name sort)")
        sort = self.sort(form[2])
        names = [str(form[1])] + ([f"{form[1]}!"] if primed else [])
        for name in names:
            self.fresh(name, line, allow_var_sort=sort)
            self.variables[name] = sort

    def declare_primed_var(self, form: tuple, line: int) -> None:
        self.declare_var(form, line, primed=True)

    def define_fun(self, form: tuple, line: int) -> None:
        if len(form) != 5 or not isinstance(form[1], Symbol):
            raise _Refusal(line, "malformed define-fun: expected (define-fun name ((param sort) ...) sort body)")
        name = str(form[1])
        params = self.params(form[2], line)
        sort = self.sort(form[3])
        self.fresh(name, line)
        locals_ = {p: var(p, s, i) for i, (p, s) in enumerate(params)}
        barred = {f.name: f"define-fun {name} may not call synth-fun {f.name}" for f in self.synth_funs}
        functions = {n: sig for n, sig in self.functions.items() if n not in barred}
        references: set[str] = set()
        scope = self.scope(
            locals=locals_, functions=functions, barred=barred, variables=self.variables, references=references
        )
        body = elaborate(form[4], scope)
        if body.sort != sort:
            raise _Refusal(line, f"define-fun {name} is declared {sort} but its body is {body.sort}")
        impure = {h.name for h in self.helpers if h.uses_variables} | set(self.variables)
        self.helpers.append(DefineFun(name, params, sort, form[4], line, bool(references & impure)))
        self.functions[name] = FunSig(name, tuple(s for _, s in params), sort)

    def synth_fun(self, form: tuple, line: int) -> None:
        invariant = form[0] == "synth-inv"
        base = 3 if invariant else 4
        if len(form) not in (base, base + 1, base + 2) or not isinstance(form[1], Symbol):
            raise _Refusal(line, f"malformed {form[0]}")
        name = str(form[1])
        params = self.params(form[2], line)
        sort = BOOL if invariant else self.sort(form[3])
        self.fresh(name, line)
        grammar = None
        if len(form) > base:
            grammar = self.grammar(form[base:], params, sort, line)
        self.synth_funs.append(SynthFun(name, params, sort, grammar, line, invariant))
        self.functions[name] = FunSig(name, tuple(s for _, s in params), sort)

    def constraint(self, form: tuple, line: int) -> None:
        if len(form) != 2:
            raise _Refusal(line, f"malformed {form[0]}: expected ({form[0]} term)")
        references: set[str] = set()
        scope = self.scope(functions=self.functions, variables=self.variables, references=references)
        term = elaborate(form[1], scope)
        if term.sort != BOOL:
            raise _Refusal(line, f"{form[0]} must be Bool, got {term.sort}")
        synth = sorted(references & {f.name for f in self.synth_funs})
        if form[0] == "assume" and synth:
            # SyGuS-IF 2.1 allows it, but a candidate could then make the assumption false
            # everywhere and every constraint would hold vacuously.
            raise _Refusal(
                line,
                _feature(f"assume mentioning the function being synthesised ({', '.join(synth)}): "
                         "a candidate could falsify the assumption and satisfy every constraint vacuously"),
                True,
            )
        self.constrained.update(synth)
        target = self.assumptions if form[0] == "assume" else self.constraints
        target.append(Constraint(form[1], line))

    def inv_constraint(self, form: tuple, line: int) -> None:
        if len(form) != 5 or not all(isinstance(x, Symbol) for x in form[1:]):
            raise _Refusal(line, "malformed inv-constraint: expected (inv-constraint inv pre trans post)")
        inv = next((f for f in self.synth_funs if f.name == form[1]), None)
        if inv is None or inv.sort != BOOL:
            raise _Refusal(line, f"inv-constraint: {form[1]} is not a Bool-valued synth-fun or synth-inv")
        sorts = inv.param_sorts
        for role, name, expected in (
            ("pre", form[2], sorts),
            ("trans", form[3], sorts + sorts),
            ("post", form[4], sorts),
        ):
            helper = next((h for h in self.helpers if h.name == name), None)
            if helper is None:
                raise _Refusal(line, f"inv-constraint: {role} function {name} is not defined")
            if helper.param_sorts != expected or helper.sort != BOOL:
                raise _Refusal(line, f"inv-constraint: {role} function {name} has the wrong signature")
        # 2n distinct names, so no spelling of the parameters (a beside a!) can make the
        # transition relation read the wrong copy. A declared variable of the same sort may be
        # reused (v1 declare-primed-var): each condition is its own query and no assumption
        # may stand beside an inv-constraint, so sharing a name with it changes nothing.
        taken: set[str] = set()
        state = tuple((self.state_var(p, s, taken), s) for p, s in inv.params)
        primed = tuple((self.state_var(f"{p}!", s, taken), s) for p, s in inv.params)
        for n, s in state + primed:
            self.variables[n] = s
        xs = [Symbol(n) for n, _ in state]
        ps = [Symbol(n) for n, _ in primed]
        inv_x, inv_p = add_app(inv.name, xs), add_app(inv.name, ps)
        implies, and_ = Symbol("=>"), Symbol("and")
        self.constraints += [
            Constraint((implies, add_app(form[2], xs), inv_x), line, "initiation"),
            Constraint((implies, (and_, inv_x, add_app(form[3], xs + ps)), inv_p), line, "consecution"),
            Constraint((implies, inv_x, add_app(form[4], xs)), line, "safety"),
        ]
        self.invariants.append(InvConstraint(inv.name, form[2], form[3], form[4], state, primed, line))
        self.constrained.add(inv.name)

    # -- pieces --------------------------------------------------------------------------------

    def sort(self, datum: SExpr) -> str:
        sort = parse_sort(datum)
        if sort != BOOL and not self.sort_in_logic(sort):
            raise ElabError("logic", f"sort {sort} is not in logic {self.logic}", unsupported=True)
        return sort

    def sort_in_logic(self, sort: str) -> bool:
        return ("int" in self.theories) if sort == "Int" else ("bv" in self.theories)

    def params(self, datum: SExpr, line: int) -> tuple[tuple[str, str], ...]:
        if not isinstance(datum, tuple):
            raise _Refusal(line, "malformed parameter list")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for item in datum:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Symbol)):
                raise _Refusal(line, f"malformed parameter {to_text(item)}")
            if item[0] in seen:
                raise _Refusal(line, f"parameter {item[0]} is declared twice")
            seen.add(item[0])
            out.append((str(item[0]), self.sort(item[1])))
        return tuple(out)

    def fresh(self, name: str, line: int, allow_var_sort: str | None = None) -> None:
        if name in ALL_OPS or name in RESERVED:
            raise _Refusal(line, f"{name} is a builtin and cannot be declared")
        if name in self.functions:
            raise _Refusal(line, f"{name} is already defined")
        if name in self.variables and self.variables[name] != allow_var_sort:
            raise _Refusal(line, f"{name} is already declared")

    def state_var(self, name: str, sort: str, taken: set[str]) -> str:
        """A state variable named like `name` where possible (counterexamples read naturally)."""
        while (
            name in self.functions
            or name in ALL_OPS
            or name in RESERVED
            or name in taken
            or (name in self.variables and self.variables[name] != sort)
        ):
            name += "_"
        taken.add(name)
        return name

    def grammar(self, parts: tuple, params, sort: str, line: int) -> Grammar:
        if len(parts) == 2:
            declared, rules = parts
            if not isinstance(declared, tuple) or not all(
                isinstance(d, tuple) and len(d) == 2 and isinstance(d[0], Symbol) for d in declared
            ):
                raise _Refusal(line, "malformed grammar: bad nonterminal declarations")
        else:
            declared, rules = None, parts[0]
        if not isinstance(rules, tuple) or not rules:
            raise _Refusal(line, "malformed grammar: expected a list of (name sort (productions))")
        heads: list[tuple[str, str]] = []
        for rule in rules:
            if not (isinstance(rule, tuple) and len(rule) == 3 and isinstance(rule[0], Symbol)):
                raise _Refusal(line, f"malformed grammar rule {to_text(rule)[:80]}")
            if not isinstance(rule[2], tuple):
                raise _Refusal(line, f"malformed grammar rule for {rule[0]}: productions must be a list")
            if any(rule[0] == n for n, _ in heads):
                raise _Refusal(line, f"nonterminal {rule[0]} is defined twice")
            heads.append((str(rule[0]), self.sort(rule[1])))
        if declared is not None:
            order = [(str(d[0]), self.sort(d[1])) for d in declared]
            if sorted(order) != sorted(heads):
                raise _Refusal(line, "grammar: predeclared nonterminals do not match the rules")
            rules = tuple(sorted(rules, key=lambda r: order.index((str(r[0]), self.sort(r[1])))))
            heads = order
        if heads[0][1] != sort:
            raise _Refusal(line, f"grammar: start symbol {heads[0][0]} is {heads[0][1]}, the function is {sort}")
        holes = {n: Term(HOLE, n, (), s) for n, s in heads}
        locals_ = {p: var(p, s, i) for i, (p, s) in enumerate(params)}
        locals_.update(holes)
        scope = self.scope(locals=locals_, functions=dict(self.functions), grammar=True)
        nonterminals = []
        for rule, (name, nt_sort) in zip(rules, heads):
            for production in rule[2]:
                if _mentions_let(production):
                    raise _Refusal(line, _feature("let in grammar productions"), True)
                term = elaborate(production, scope)
                if term.sort != nt_sort:
                    raise _Refusal(line, f"grammar: production {to_text(production)} of {name} is not {nt_sort}")
            nonterminals.append(Nonterminal(name, nt_sort, tuple(rule[2])))
        return Grammar(tuple(nonterminals))


_HANDLERS = {
    "set-logic": _Loader.set_logic,
    "declare-var": _Loader.declare_var,
    "declare-primed-var": _Loader.declare_primed_var,
    "define-fun": _Loader.define_fun,
    "synth-fun": _Loader.synth_fun,
    "synth-inv": _Loader.synth_fun,
    "constraint": _Loader.constraint,
    "assume": _Loader.constraint,
    "inv-constraint": _Loader.inv_constraint,
}


def _feature(what: str) -> str:
    return what if what.startswith("unsupported feature") else f"unsupported feature: {what}"


def add_app(name: str, args: list[Symbol]) -> SExpr:
    return (Symbol(name), *args) if args else Symbol(name)


def _mentions_let(datum: SExpr) -> bool:
    stack = [datum]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            if item and item[0] == "let" and isinstance(item[0], Symbol):
                return True
            stack.extend(item)
    return False


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> SygusProblem:
    try:
        forms = parse_all(text, max_depth=MAX_PROBLEM_DEPTH)
    except ParseError as e:
        too_deep = e.reason == "too-deep"
        raise _Refusal(e.line, _feature(e.message) if too_deep else e.message, too_deep) from None
    return _Loader().run(forms)


def parse_problem(text: str, path: str | Path | None = None) -> SygusProblem:
    """Parse SyGuS-IF text (cached by text); errors name `path` and the line."""
    try:
        return _parse_cached(text)
    except _Refusal as e:
        cls = UnsupportedFeature if e.unsupported else ProblemFormatError
        # One line, even when the culprit is a quoted symbol that spans lines.
        raise cls(path, e.line, " ".join(e.message.split())) from None
