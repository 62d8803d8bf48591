"""Grammar conformance: is a candidate body derivable from a synth-fun's grammar?

Productions are elaborated like any term (so literal spellings are normalised: `(- 1)` and
`-1` are the same literal, `#x0f` and `#b00001111` too) and flattened into rules whose
children are nonterminals; a nested production such as `(+ Start (* 2 Start))` gets an
auxiliary nonterminal for `(* 2 Start)`. Derivability is then computed bottom-up over the
candidate's term DAG: each node gets the set of nonterminals that derive it (memoised per
node, so shared let-bound subterms are checked once), closed under chain rules `N -> M`.

A negative integer literal also counts as unary minus applied to its absolute value, so a
grammar with `(- Start)` and `Start -> 1` derives `-1` and `(- 1)` alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from provers.z3.terms import (
    ANYCONST,
    ANYVAR,
    APP,
    BOOL,
    CALL,
    HOLE,
    INT,
    LIT,
    VAR,
    FunSig,
    Scope,
    Term,
    bv_width,
    elaborate,
    postorder,
    var,
)

NEG_KEY = (APP, "-", ())


@dataclass
class Production:
    """One flattened production: `kind` is chain, lit, param, anyconst, anyvar or app."""

    kind: str
    payload: object
    children: tuple[str, ...] = ()


@dataclass
class Rules:
    """A flattened grammar (the first nonterminal added is the start symbol)."""

    start: str = ""
    sorts: dict[str, str] = field(default_factory=dict)
    productions: dict[str, list[Production]] = field(default_factory=lambda: defaultdict(list))
    lits: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))
    params: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    anyconst: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    anyvar: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    apps: dict[tuple, list[tuple[str, tuple[str, ...]]]] = field(default_factory=lambda: defaultdict(list))
    chains_to: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _up: dict[str, frozenset[str]] | None = None
    _aux: int = 0

    def nonterminal(self, name: str, sort: str) -> str:
        if not self.start:
            self.start = name
        self.sorts[name] = sort
        return name

    def add(self, nt: str, term: Term) -> None:
        """Add production `term` (an elaborated pattern) to nonterminal `nt`."""
        self._up = None
        kind = term.kind
        if kind == HOLE:
            self.chains_to[term.op].add(nt)
            self.productions[nt].append(Production("chain", term.op))
        elif kind == LIT:
            self.lits[(term.value, term.sort)].add(nt)
            self.productions[nt].append(Production("lit", (term.value, term.sort)))
        elif kind == VAR:
            self.params[term.value].add(nt)
            self.productions[nt].append(Production("param", term.value))
        elif kind == ANYCONST:
            self.anyconst[term.sort].add(nt)
            self.productions[nt].append(Production("anyconst", term.sort))
        elif kind == ANYVAR:
            if term.value != "local":
                self.anyvar[term.sort].add(nt)
                self.productions[nt].append(Production("anyvar", term.sort))
        else:
            children = tuple(a.op if a.kind == HOLE else self._auxiliary(nt, a) for a in term.args)
            key = node_key(term)
            self.apps[(key, len(children))].append((nt, children))
            self.productions[nt].append(Production("app", key, children))

    def _auxiliary(self, parent: str, term: Term) -> str:
        self._aux += 1
        name = f"{parent}#{self._aux}"
        self.sorts[name] = term.sort
        self.add(name, term)
        return name

    def up(self) -> dict[str, frozenset[str]]:
        """For each nonterminal M, the nonterminals that derive M through chain rules (and M)."""
        if self._up is None:
            up: dict[str, frozenset[str]] = {}
            for m in self.sorts:
                seen = {m}
                stack = [m]
                while stack:
                    for n in self.chains_to.get(stack.pop(), ()):
                        if n not in seen:
                            seen.add(n)
                            stack.append(n)
                up[m] = frozenset(seen)
            self._up = up
        return self._up


def node_key(term: Term) -> tuple:
    return (term.kind, term.op, term.value if term.kind == APP else ())


def compile_grammar(fun, helpers: dict[str, FunSig], theories: frozenset[str], logic: str) -> Rules:
    """Flatten the grammar of synth-fun `fun` (a sygus.SynthFun that has one) into Rules."""
    rules = Rules()
    holes = {}
    for nt in fun.grammar.nonterminals:
        rules.nonterminal(nt.name, nt.sort)
        holes[nt.name] = Term(HOLE, nt.name, (), nt.sort)
    locals_ = {p: var(p, s, i) for i, (p, s) in enumerate(fun.params)}
    locals_.update(holes)
    scope = Scope(theories=theories, logic=logic, locals=locals_, functions=dict(helpers), grammar=True)
    for nt in fun.grammar.nonterminals:
        for production in nt.productions:
            rules.add(nt.name, elaborate(production, scope))
    return rules


def _closure(up: dict[str, frozenset[str]], direct: set[str]) -> frozenset[str]:
    if not direct:
        return frozenset()
    if len(direct) == 1:
        return up[next(iter(direct))]
    out: set[str] = set()
    for m in direct:
        out |= up[m]
    return frozenset(out)


def _leaf(rules: Rules, value, sort: str) -> set[str]:
    return set(rules.lits.get((value, sort), ())) | set(rules.anyconst.get(sort, ()))


def derivations(rules: Rules, body: Term) -> tuple[dict[int, frozenset[str]], Term | None]:
    """Nonterminals deriving each node of `body`, and the first node that none derives."""
    up = rules.up()
    memo: dict[int, frozenset[str]] = {}
    culprit: Term | None = None
    for node in postorder(body):
        kind = node.kind
        if kind == LIT:
            direct = _leaf(rules, node.value, node.sort)
            if node.sort == INT and node.value < 0:
                inner = _closure(up, _leaf(rules, -node.value, INT))
                for nt, (child,) in rules.apps.get((NEG_KEY, 1), ()):
                    if child in inner:
                        direct.add(nt)
        elif kind == VAR:
            direct = set(rules.params.get(node.value, ())) | set(rules.anyvar.get(node.sort, ()))
        elif kind in (APP, CALL):
            direct = set()
            kids = [memo[id(a)] for a in node.args]
            for nt, children in rules.apps.get((node_key(node), len(node.args)), ()):
                if all(c in k for c, k in zip(children, kids)):
                    direct.add(nt)
        else:
            direct = set()
        memo[id(node)] = _closure(up, direct)
        if not memo[id(node)] and culprit is None:
            culprit = node
    return memo, culprit


def derivable(rules: Rules, body: Term) -> tuple[bool, Term | None]:
    """Whether the start symbol derives `body`; else a subterm no nonterminal derives (or None)."""
    memo, culprit = derivations(rules, body)
    return rules.start in memo[id(body)], culprit


# ---------------------------------------------------------------------------------------------
# Default grammars (for the sampler, when a problem has none).


def add_app(rules: Rules, nt: str, op: str, *children: str, indices: tuple = ()) -> None:
    key = (APP, op, indices)
    rules.apps[(key, len(children))].append((nt, children))
    rules.productions[nt].append(Production("app", key, children))


def add_leaves(rules: Rules, nt: str, sort: str, params, constants) -> None:
    for i, (_, s) in enumerate(params):
        if s == sort:
            rules.params[i].add(nt)
            rules.productions[nt].append(Production("param", i))
    for value in constants:
        rules.lits[(value, sort)].add(nt)
        rules.productions[nt].append(Production("lit", (value, sort)))


def default_rules(params, sort: str, theories: frozenset[str], constants: dict[str, list], invariant: bool) -> Rules:
    """A small grammar of the logic over `params` (comparisons with constants for invariants)."""
    rules = Rules()
    ints = [p for p in params if p[1] == INT]
    if invariant and sort == BOOL:
        _invariant_grammar(rules, params, ints, constants.get(INT, [0, 1]))
        return rules
    width = bv_width(sort)
    start = rules.nonterminal("Start", sort)
    if width is not None:
        term_nt = start
        add_leaves(rules, start, sort, params, constants.get(sort, [0, 1]))
        for op in ("bvadd", "bvsub", "bvand", "bvor", "bvxor", "bvshl", "bvlshr"):
            add_app(rules, start, op, start, start)
        for op in ("bvnot", "bvneg"):
            add_app(rules, start, op, start)
    elif "int" in theories and (sort == INT or ints):
        term_nt = start if sort == INT else rules.nonterminal("I", INT)
        add_leaves(rules, term_nt, INT, params, constants.get(INT, [0, 1]))
        for op in ("+", "-"):
            add_app(rules, term_nt, op, term_nt, term_nt)
        if "nonlinear" in theories:
            add_app(rules, term_nt, "*", term_nt, term_nt)
    else:
        term_nt = ""
    cond = start if sort == BOOL else rules.nonterminal("B", BOOL)
    add_leaves(rules, cond, BOOL, params, [True, False] if sort == BOOL else [])
    if term_nt:
        comparisons = ("bvule", "bvult", "=") if width is not None else ("<=", "<", "=", ">=")
        for op in comparisons:
            add_app(rules, cond, op, term_nt, term_nt)
        if sort != BOOL:
            add_app(rules, term_nt, "ite", cond, term_nt, term_nt)
    for op in ("and", "or"):
        add_app(rules, cond, op, cond, cond)
    add_app(rules, cond, "not", cond)
    return rules


def _invariant_grammar(rules: Rules, params, ints, constants) -> None:
    start = rules.nonterminal("Start", BOOL)
    atom = rules.nonterminal("Atom", BOOL)
    rules.chains_to[atom].add(start)
    rules.productions[start].append(Production("chain", atom))
    add_app(rules, start, "and", start, start)
    add_app(rules, start, "or", start, start)
    bools = [(i, p) for i, p in enumerate(params) if p[1] == BOOL]
    for i, _ in bools:
        rules.params[i].add(atom)
        rules.productions[atom].append(Production("param", i))
    if bools:
        add_app(rules, atom, "not", atom)
    if ints:
        v = rules.nonterminal("V", INT)
        k = rules.nonterminal("K", INT)
        add_leaves(rules, v, INT, params, [])
        add_leaves(rules, k, INT, [], constants)
        for op in ("<=", ">=", "="):
            add_app(rules, atom, op, v, k)
        for op in ("<=", "<", "="):
            add_app(rules, atom, op, v, v)
        s = rules.nonterminal("Sum", INT)
        add_app(rules, s, "+", v, v)
        add_app(rules, atom, "<=", s, k)
        add_app(rules, atom, ">=", s, k)
    if not bools and not ints:
        add_leaves(rules, atom, BOOL, [], [True, False])
