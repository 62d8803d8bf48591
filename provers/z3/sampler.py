"""The grammar sampler: random size-bounded derivations, the round-0 policy.

Each sample draws a size budget that favours small terms (easy solutions are often small),
then expands the start symbol top-down, choosing among the productions that fit the budget.
Problems without a grammar use a default grammar of their logic over the parameters
(grammar.default_rules); `(Constant S)` and the default grammars draw constants from the
problem's own literals plus a few small values. Every sample is derivable from the grammar,
so it passes the checker's grammar test by construction.
"""

from __future__ import annotations

import random
import re

from provers.z3.grammar import Production, Rules, compile_grammar, default_rules
from provers.z3.sexpr import BVLit, SExpr, Symbol, atom_text, symbol_text
from provers.z3.sygus import SygusProblem, SynthFun
from provers.z3.terms import BOOL, CALL, INT, FunSig, bv_width

INF = 1 << 30
MAX_CHAINS = 8
MAX_CONSTANTS = 12
RETRIES = 4


def problem_constants(problem: SygusProblem) -> dict[str, list]:
    """Literals of the problem (plus 0 and 1) by sort, small magnitudes first."""
    ints: set[int] = {0, 1}
    bvs: dict[int, set[int]] = {}
    stack: list[SExpr] = [c.term for c in problem.constraints + problem.assumptions]
    stack += [h.body for h in problem.helpers]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            if len(item) == 2 and item[0] == "-" and isinstance(item[0], Symbol) and type(item[1]) is int:
                ints.add(-item[1])
            stack.extend(item)
        elif type(item) is int:
            ints.add(item)
        elif isinstance(item, BVLit):
            bvs.setdefault(item.width, set()).add(item.value)
    out: dict[str, list] = {INT: sorted(ints, key=lambda v: (abs(v), v))[:MAX_CONSTANTS], BOOL: [True, False]}
    for f in problem.synth_funs:
        for sort in (*f.param_sorts, f.sort):
            width = bv_width(sort)
            if width is not None and sort not in out:
                values = {0, 1, (1 << width) - 1} | bvs.get(width, set())
                out[sort] = sorted(values)[:MAX_CONSTANTS]
    return out


class _Generator:
    def __init__(self, rules: Rules, fun: SynthFun, constants: dict[str, list], rng: random.Random):
        self.rules = rules
        self.params = fun.params
        self.constants = constants
        self.rng = rng
        self.min = self._min_sizes()
        self.param_names = {symbol_text(n) for n, _ in fun.params}

    def _cost(self, p: Production, sizes: dict[str, int]) -> int:
        if p.kind in ("lit", "param"):
            return 1
        if p.kind == "anyconst":
            return 1 if self.constants.get(p.payload) else INF  # type: ignore[arg-type]
        if p.kind == "anyvar":
            return 1 if any(s == p.payload for _, s in self.params) else INF
        if p.kind == "chain":
            return sizes[p.payload]  # type: ignore[index]
        return min(INF, 1 + sum(sizes[c] for c in p.children))

    def _min_sizes(self) -> dict[str, int]:
        sizes = {nt: INF for nt in self.rules.sorts}
        changed = True
        while changed:
            changed = False
            for nt, prods in self.rules.productions.items():
                best = min((self._cost(p, sizes) for p in prods), default=INF)
                if best < sizes[nt]:
                    sizes[nt] = best
                    changed = True
        return sizes

    def term(self, nt: str, budget: int, chains: int = 0) -> str:
        options = [
            p
            for p in self.rules.productions[nt]
            if self._cost(p, self.min) <= budget and not (p.kind == "chain" and chains >= MAX_CHAINS)
        ]
        if not options:
            options = [min(self.rules.productions[nt], key=lambda p: self._cost(p, self.min))]
        p = self.rng.choice(options)
        if p.kind == "lit":
            value, sort = p.payload  # type: ignore[misc]
            return _literal(value, sort)
        if p.kind == "param":
            return symbol_text(self.params[p.payload][0])  # type: ignore[index]
        if p.kind == "anyconst":
            return _literal(self.rng.choice(self.constants[p.payload]), p.payload)  # type: ignore[index,arg-type]
        if p.kind == "anyvar":
            return symbol_text(self.rng.choice([n for n, s in self.params if s == p.payload]))
        if p.kind == "chain":
            return self.term(p.payload, budget, chains + 1)  # type: ignore[arg-type]
        return self._app(p, budget)

    def _app(self, p: Production, budget: int) -> str:
        kind, op, indices = p.payload  # type: ignore[misc]
        head = symbol_text(op) if kind == CALL else (f"(_ {op} {' '.join(map(str, indices))})" if indices else op)
        mins = [self.min[c] for c in p.children]
        for _ in range(RETRIES):
            slack = max(0, budget - 1 - sum(mins))
            cuts = sorted(self.rng.randint(0, slack) for _ in range(len(mins) - 1))
            shares = [b - a for a, b in zip([0, *cuts], [*cuts, slack])]
            args = [self.term(c, m + s) for c, m, s in zip(p.children, mins, shares)]
            if not _redundant(kind, op, args, self.param_names):
                break
        return f"({head} {' '.join(args)})" if args else head


# Operators whose result is trivial when two arguments are the same term ((= x x), (- y y),
# (and b b)); such samples waste checks, so the sampler redraws them a few times.
_TRIVIAL_TWINS = set(
    "= distinct < <= > >= - and or xor => bvsub bvxor bvand bvor bvult bvule bvugt bvuge bvslt bvsle bvsgt bvsge".split()
)


_DECIDED_WHEN_GROUND = _TRIVIAL_TWINS - {"-", "bvsub", "bvxor", "bvand", "bvor"}
_ATOMS = re.compile(r"[^\s()]+")


def _redundant(kind: int, op: str, args: list[str], params: set[str]) -> bool:
    """Whether an application is trivially simplifiable: twin arguments or a decided test."""
    if kind == CALL or len(args) < 2:
        return False
    if op == "ite":
        return args[1] == args[2] or not params.intersection(_ATOMS.findall(args[0]))
    if op not in _TRIVIAL_TWINS:
        return False
    if len(set(args)) < len(args):
        return True
    return op in _DECIDED_WHEN_GROUND and not any(params.intersection(_ATOMS.findall(a)) for a in args)


def _literal(value, sort: str) -> str:
    if sort == BOOL:
        return "true" if value else "false"
    width = bv_width(sort)
    if width is not None:
        return atom_text(BVLit(value, width))
    return atom_text(value)


def rules_for(problem: SygusProblem, fun: SynthFun, constants: dict[str, list]) -> Rules:
    """The grammar of `fun` as rules, or the default grammar of the logic when it has none."""
    if fun.grammar is not None:
        helpers = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
        return compile_grammar(fun, helpers, problem.theories, problem.logic)
    invariant = fun.invariant or any(inv.inv == fun.name for inv in problem.invariants)
    return default_rules(fun.params, fun.sort, problem.theories, constants, invariant)


def _header(fun: SynthFun) -> str:
    params = " ".join(f"({symbol_text(p)} {s})" for p, s in fun.params)
    return f"(define-fun {symbol_text(fun.name)} ({params}) {fun.sort} "


def sample(problem: SygusProblem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
    """`n` candidates drawn from the grammars (distinct where the grammar allows); [] if none derive."""
    constants = problem_constants(problem)
    gens = [(f, _Generator(rules_for(problem, f, constants), f, constants, rng)) for f in problem.synth_funs]
    if any(g.min[g.rules.start] >= INF for _, g in gens):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(max(1, n) * 20):
        if len(out) >= n:
            break
        parts = []
        for fun, gen in gens:
            least = gen.min[gen.rules.start]
            mean = max(1.5, (max_size - least) / 3)
            budget = min(max(max_size, least), least + int(rng.expovariate(1 / mean)))
            parts.append(_header(fun) + gen.term(gen.rules.start, budget) + ")")
        text = "\n".join(parts)
        if text not in seen:
            seen.add(text)
            out.append(text)
    distinct = list(out)
    while distinct and len(out) < n:
        out.append(distinct[len(out) % len(distinct)])
    return out
