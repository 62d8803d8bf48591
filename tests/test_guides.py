"""Learned guides (provers/z3/synth/guides.py): fitted from verified answers, kept as JSON, priced
in context, and consulted by the enumerator and the invariant search; every answer the search
returns is still verified by the checker."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from sygus_texts import MAX2

from proofloop.problemfile import bundled_problems_dir, load_problems
from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover, reference_of
from provers.z3.checker import compiled_for
from provers.z3.sygus import parse_problem
from provers.z3.synth import (
    PCFG,
    PHOG,
    Mix,
    ModelGuide,
    Uniform,
    candidate_text,
    fit_guide,
    load_guide,
    save_guide,
    synthesize,
)
from provers.z3.synth.cost import (
    FAMILIES,
    Context,
    atom_family,
    atom_key,
    conjuncts,
    family_context,
    level,
    production_key,
    seeds_of,
    term_key,
)
from provers.z3.synth.enumerate import Enumerator
from provers.z3.synth.grammars import default_rules
from provers.z3.synth.guides import parse_solution
from provers.z3.synth.invariant import InvariantSearch, add_app, condition_keys
from provers.z3.terms import APP, CALL, INT, lit, postorder, term_text, var

prover = Z3Prover()

# One parameter, no grammar: the slots of ite and + are told apart by the solutions below.
STEP = """(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (= (f x) (ite (<= x 0) x (+ x 1))))
(check-synth)
"""
STEP_ANSWERS = ["(ite (<= x 0) x (+ x 1))", "(ite (< x 5) x (+ x 2))", "(ite (<= x 3) x (+ x 1))"]


def bundled(directory: str) -> dict:
    return {p.id: p for p in load_problems(bundled_problems_dir() / directory)}


@pytest.fixture(scope="module")
def lia():
    return bundled("lia")


@pytest.fixture(scope="module")
def inv():
    return bundled("inv")


def verified(problems: dict, names=None) -> list:
    """(problem, reference answer) of bundled problems, each reference verified by the checker."""
    out = []
    for name, p in sorted(problems.items()):
        if names is None or name in names:
            text = reference_of(p.text)
            assert prover.check(p, text, CheckLimits(timeout_s=10)).verified, name
            out.append((p, text))
    return out


def define(body: str, params: str = "((x Int))", name: str = "f", sort: str = "Int") -> str:
    return f"(define-fun {name} {params} {sort} {body})"


def keys_and_contexts():
    """Production keys and contexts to compare guides on."""
    keys = ["ite/3", "+/2", "-/2", "param", "const", "<=/2", "and/2", "atom:var-const", "atom:octagon", "clause"]
    contexts = [Context("p", "f", "Start", "Int"), Context("p", "f", "Cond", "Bool"), family_context("p", "inv-f"),
                Context("avg_floor", "avg", "Start", "Int")]
    slots = [("ite/3", 0), ("ite/3", 1), ("+/2", 1), ("<=/2", 0)]
    return keys, contexts, slots


def prices(guide) -> list[float]:
    keys, contexts, slots = keys_and_contexts()
    out = [guide.cost(k, c) for k in keys for c in contexts]
    if getattr(guide, "contextual", False):
        out += [guide.child_cost(k, c, parent, i) for k in keys for c in contexts for parent, i in slots]
    return out


# -- fitting ------------------------------------------------------------------------------------


def test_fit_counts_verified_answers_and_skips_what_the_front_end_refuses(lia, inv):
    answers = verified(lia) + verified(inv)
    some = answers[0][0]
    junk = [(some, "not a candidate"), (some, define("x", name="wrong")), (some, define("(+ x", name="f"))]
    pcfg = fit_guide("pcfg", answers)
    assert fit_guide("pcfg", answers + junk).counts == pcfg.counts
    assert fit_guide("pcfg", junk).counts == {}
    # Each function body weighs 1 in each sort it has nodes of.
    bodies = [b for p, t in answers if not parse_problem(p.text).invariants for b in parse_solution(p, t)[1].values()]
    with_ints = sum(any(n.sort == INT for n in postorder(b)) for b in bodies)
    assert sum(pcfg.counts["Int"].values()) == pytest.approx(with_ints)
    assert pcfg.counts["Int"]["ite/3"] > 0 and pcfg.counts["Bool"][">=/2"] > 0
    # Invariants count the families of their conjuncts, each once an answer, under sort "inv".
    families = pcfg.counts["inv"]
    assert set(families) <= set(FAMILIES)
    using = [p for p, t in answers if "atom:hull" in _families(p, t)]
    assert families["atom:hull"] == len(using) > 0  # (= s (* 2 i)), (= (+ x y) 100), ...
    phog = fit_guide("phog", answers)
    assert phog.backoff.counts == pcfg.counts
    assert phog.slots[("Bool", "ite/3", 0)]  # the condition slot of ite
    assert isinstance(fit_guide("uniform", answers), Uniform)
    with pytest.raises(ValueError):
        fit_guide("bigram", answers)


def test_atom_families_tell_conditions_apart(inv):
    problem = inv["two_phase"]  # post: (=> (> x 50) (= y x)), ...
    compiled, _ = parse_solution(problem, reference_of(problem.text))
    keys = condition_keys(compiled)
    search = InvariantSearch(compiled, time.perf_counter() + 10, check=None)
    conditions = search.condition_atoms()
    assert conditions and all(atom_family(a, keys) == "atom:cond" for a in conditions)
    x, _ = search.variables([0, 1])
    assert atom_family(add_app(">=", x, lit(3, INT)), keys) == "atom:var-const"
    assert atom_family(add_app("or", conditions[0], conditions[1]), keys) == "clause:cond"
    assert atom_family(add_app("or", conditions[0], add_app(">=", x, lit(3, INT))), keys) == "clause"
    # Without the problem's conditions, by shape alone.
    shapes = {"(>= x 3)": "atom:var-const", "(not (<= x y))": "atom:var-var", "(<= (- x y) 4)": "atom:octagon",
              "(= (+ x y) 10)": "atom:hull", "(= y (* 2 x))": "atom:hull", "(= (mod x 3) 0)": "atom:other",
              "(or (>= x 1) (<= y 2))": "clause", "(>= x (+ y 1))": "atom:other"}
    for text, family in shapes.items():
        _, bodies = parse_solution(problem, define(text, "((x Int) (y Int))", "inv-f", "Bool"))
        assert atom_family(bodies["inv-f"]) == family, text
    assert atom_key(add_app(">=", var("a", INT, 0), lit(3, INT))) == atom_key(add_app(">=", x, lit(3, INT)))


def _families(problem, text):
    compiled, bodies = parse_solution(problem, text)
    keys = condition_keys(compiled) if compiled.problem.invariants else frozenset()
    return {atom_family(c, keys) for b in bodies.values() for c in conjuncts(b)}


def test_phog_prices_a_production_by_its_parent():
    p = prover.from_text(STEP, id="step")
    guide = fit_guide("phog", [(p, define(body)) for body in STEP_ANSWERS])
    ctx = Context("step", "f", "Start", "Int")
    # Branch 1 of ite is always x, argument 2 of + always a constant.
    param = guide.cost("param", ctx)
    assert guide.child_cost("param", ctx, "ite/3", 1) < param < guide.child_cost("param", ctx, "+/2", 1)
    assert guide.child_cost("const", ctx, "+/2", 1) < guide.cost("const", ctx)
    assert guide.child_cost("+/2", ctx, "ite/3", 2) < guide.child_cost("+/2", ctx, "ite/3", 1)
    # A slot no answer shows falls back to the PCFG.
    assert guide.child_cost("param", ctx, "-/2", 0) == guide.cost("param", ctx)


# -- files and processes ------------------------------------------------------------------------


def test_every_kind_survives_save_load_and_pickle(tmp_path, lia, avg_samples):
    answers = verified(lia)
    phog = fit_guide("phog", answers)
    model = ModelGuide.from_samples(avg_samples, prior=phog, weight=0.4)
    guides = [Uniform(), fit_guide("pcfg", answers), phog, model, Mix([phog, model, Uniform()], [2.0, 1.0, 1.0])]
    for k, guide in enumerate(guides):
        path = tmp_path / f"g{k}.json"
        save_guide(guide, path)
        for again in (load_guide(path), pickle.loads(pickle.dumps(guide))):
            assert type(again) is type(guide) and again.name == guide.name
            assert prices(again) == prices(guide)
            assert seed_texts(again) == seed_texts(guide)
    assert model.seeds("avg_floor")["avg"]  # the round trip above compared real seeds
    # A PCFG file written before guides had kinds.
    (tmp_path / "old.json").write_text('{"alpha": 1.0, "counts": {"Int": {"param": 3, "+/2": 1}}}')
    old = load_guide(tmp_path / "old.json")
    assert isinstance(old, PCFG) and old.counts == {"Int": {"param": 3, "+/2": 1}}


def seed_texts(guide) -> dict[str, list[str]]:
    return {f: [term_text(t) for t in ts] for f, ts in seeds_of(guide, "avg_floor").items()}


def test_mix_weighs_probabilities_and_unites_seeds(lia, avg_samples):
    pcfg = fit_guide("pcfg", verified(lia))
    ctx = Context("p", "f", "Start", "Int")
    assert Mix([pcfg, pcfg], [1.0, 3.0]).cost("+/2", ctx) == pytest.approx(pcfg.cost("+/2", ctx))
    half = Mix([pcfg, Uniform()], [1.0, 1.0]).cost("-/2", ctx)
    assert half == pytest.approx(-np.log2((2 ** -pcfg.cost("-/2", ctx) + 0.5) / 2))
    assert not Mix([pcfg, Uniform()], [1.0, 1.0]).contextual and Mix([PHOG(), pcfg], [1.0, 1.0]).contextual
    model = ModelGuide.from_samples(avg_samples, prior=Uniform())
    problem = avg_samples["avg_floor"][0]
    other = ModelGuide.from_samples({"avg_floor": (problem, [define("(- x y)", "((x Int) (y Int))", "avg")])}, Uniform())
    united = Mix([model, other], [1.0, 1.0]).seeds("avg_floor")["avg"]
    texts = [term_text(t) for t in united]
    assert "(- x y)" in texts and "(div (+ x y) 2)" in texts and len(texts) == len(set(texts))


# -- the enumerator ------------------------------------------------------------------------------


def _enumerate(text: str, guide, levels: int) -> tuple[Enumerator, list[tuple[str, int]]]:
    fun = parse_problem(text).synth_funs[0]
    rules = default_rules(fun, [0, 1])
    points = [[-3, 4, 20, 0, 7], [5, -2, 20, 1, -8]]
    inputs = [np.array(points[i], dtype=np.int64) for i in range(len(fun.params))]
    enum = Enumerator(rules, fun.params, inputs, 5, guide, Context("p", fun.name, rules.start, fun.sort), {})
    for _ in range(levels):
        enum.grow()
    return enum, [(term_text(t), lv) for nt in rules.sorts for t, _, lv in enum.terms(nt)]


def test_guides_without_context_enumerate_exactly_as_before(lia):
    base, uniform = _enumerate(MAX2, Uniform(), 6)
    empty, same = _enumerate(MAX2, fit_guide("phog", []), 6)
    assert empty.contextual and not base.contextual
    assert same == uniform and len(uniform) > 100
    pcfg = fit_guide("pcfg", verified(lia))
    assert _enumerate(MAX2, PHOG(pcfg, {}), 5)[1] == _enumerate(MAX2, pcfg, 5)[1]


def test_a_term_is_built_at_its_phog_cost(lia):
    guide = fit_guide("phog", verified(lia))
    enum, _ = _enumerate(MAX2, guide, 9)
    rules = enum.rules
    by_sort = {s: nt for nt, s in reversed(list(rules.sorts.items()))}
    slots = {(ch, production_key(p), i) for nt in rules.sorts for p in rules.productions[nt] if p.kind == "app"
             for i, ch in enumerate(p.children)}

    def ctx(sort):
        return Context("p", "max2", by_sort[sort], sort)

    def root(key, sort):
        in_slots = [level(guide.child_cost(key, ctx(sort), parent, i)) for ch, parent, i in slots if rules.sorts[ch] == sort]
        return min([level(guide.cost(key, ctx(sort))), *in_slots])

    def cost(t):
        total = root(term_key(t), t.sort)
        if t.kind in (APP, CALL):
            for i, a in enumerate(t.args):
                key = term_key(a)
                total += cost(a) - root(key, a.sort) + level(guide.child_cost(key, ctx(a.sort), term_key(t), i))
        return total

    def plain(t):
        return level(guide.cost(term_key(t), ctx(t.sort))) + sum(plain(a) for a in t.args)

    kept = [(t, lv) for nt in rules.sorts for t, _, lv in enum.terms(nt)]
    assert len(kept) > 100
    assert all(cost(t) == lv for t, lv in kept)
    assert any(view.blocks for view in enum._views.values())  # children were seen on shifted levels
    # Context matters: some terms cost other than the sum of their productions' plain costs.
    assert any(plain(t) != lv for t, lv in kept)
    result = synthesize(prover.from_text(MAX2, id="max2"), guide=guide, time_budget_s=20.0)
    assert result.status is Status.VERIFIED and result.stats["guide"] == "phog"


# -- the invariant search ----------------------------------------------------------------------


VAR_CONST = ["add_nonneg", "countdown", "symmetric_bound", "toggle", "count_to_100"]


def test_an_invariant_guide_tries_the_likely_families_first(inv):
    guide = fit_guide("pcfg", verified(inv, VAR_CONST))
    context = family_context("split_counter", "inv-f")
    likely = guide.cost("atom:var-const", context)
    assert all(likely + 1 < guide.cost(f, context) for f in ("atom:var-var", "atom:octagon", "clause"))
    target = inv["split_counter"]  # (and (= (+ a b) c) (>= a 0) (>= b 0))
    plain = synthesize(target, time_budget_s=20.0)
    guided = synthesize(target, guide=guide, time_budget_s=20.0)
    for result in (plain, guided):
        assert result.status is Status.VERIFIED, result.reason
        assert prover.check(target, result.proof, CheckLimits(timeout_s=10)).verified
    # One stage each, but the guided one ran Houdini on the likely families' atoms first, and
    # they were enough (with the few others that make up its first FIRST_STAGE candidates).
    assert plain.stats["stages"] == guided.stats["stages"] == 1
    assert guided.stats["terms"] < plain.stats["terms"] * 0.7
    # An answer of other families costs the guided search more stages, never the answer.
    target = inv["mult3"]  # (and (= r (* 3 i)) (<= i n))
    plain = synthesize(target, time_budget_s=20.0)
    guided = synthesize(target, guide=guide, time_budget_s=20.0)
    assert plain.status is guided.status is Status.VERIFIED
    assert prover.check(target, guided.proof, CheckLimits(timeout_s=10)).verified
    assert guided.stats["stages"] > plain.stats["stages"] == 1


def test_shortening_an_invariant_never_costs_the_answer(inv):
    problem = inv["add_nonneg"]
    compiled = compiled_for(problem)
    search = InvariantSearch(compiled, time.perf_counter() + 20, check=None)
    search.collect_samples()
    atoms, _ = search.atoms(search.assigned)
    conj = search.houdini(search._on_samples(atoms))
    assert search.safe(conj) and len(conj) > 4
    assert search.minimise(conj, time.perf_counter() - 1) == conj  # no time: the answer as found
    short = search.minimise(conj, time.perf_counter() + 10)
    assert len(short) < len(conj) and all(any(a is b for b in conj) for a in short)
    text = candidate_text(compiled.problem, {"inv-f": search._body(short)})
    assert prover.check(problem, text, CheckLimits(timeout_s=10)).verified


# -- a model's samples --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def avg_samples(lia):
    """Samples of a model for avg_floor (the floor of (x + y) / 2): junk, a wrong answer holding
    the right one as a subterm, and a wrong answer; the default grammar has no `div`."""
    problem = lia["avg_floor"]
    params = "((x Int) (y Int))"
    texts = [
        "I think the answer is x",
        define("(+ (div (+ x y) 2) 1)", params, "avg"),
        define("(- x 1)", params, "avg"),
        define("(div x", params, "avg"),
    ]
    return {"avg_floor": (problem, texts)}


def test_model_guide_counts_parsable_samples_and_keeps_their_subterms(avg_samples):
    guide = ModelGuide.from_samples(avg_samples, prior=Uniform(), weight=0.5)
    table = guide.tables["avg_floor"]
    # Two parsable samples, each weighing 1: (+ (div (+ x y) 2) 1) has 7 Int nodes, (- x 1) 3.
    expected = {"+/2": 2 / 7, "div/2": 1 / 7, "param": 2 / 7 + 1 / 3, "const": 2 / 7 + 1 / 3, "-/2": 1 / 3}
    assert table.counts["Int"] == pytest.approx(expected)
    ctx = Context("avg_floor", "avg", "Start", "Int")
    assert guide.cost("div/2", ctx) < guide.cost("ite/3", ctx)
    assert guide.cost("div/2", Context("other", "avg", "Start", "Int")) == Uniform().cost("div/2", ctx)
    seeds = [term_text(t) for t in guide.seeds("avg_floor")["avg"]]
    assert seeds[:2] == ["(+ (div (+ x y) 2) 1)", "(- x 1)"]
    assert "(div (+ x y) 2)" in seeds and "(+ x y)" in seeds and "x" not in seeds
    assert guide.seeds("other") == {}
    assert seeds_of(PHOG(), "avg_floor") == seeds_of(Uniform(), "avg_floor") == {}


def test_a_seed_from_a_sample_solves_what_enumeration_does_not(avg_samples):
    problem = avg_samples["avg_floor"][0]
    plain = synthesize(problem, time_budget_s=2.0)
    assert plain.status is Status.UNKNOWN
    guided = synthesize(problem, guide=ModelGuide.from_samples(avg_samples, prior=Uniform()), time_budget_s=2.0)
    assert guided.status is Status.VERIFIED, guided.reason
    assert "div" in guided.proof
    assert prover.check(problem, guided.proof, CheckLimits(timeout_s=10)).verified


def test_a_sampled_conjunct_reaches_the_invariant_search(inv):
    problem = inv["countdown_by3"]  # needs (= (mod x 3) 0), which no atom family holds
    plain = synthesize(problem, time_budget_s=5.0)
    assert plain.status is Status.UNKNOWN and plain.reason.startswith("exhausted")
    sample = define("(and (= (mod x 3) 0) (> x 100))", name="inv-f", sort="Bool")
    samples = {"countdown_by3": (problem, [sample, "junk"])}
    guided = synthesize(problem, guide=ModelGuide.from_samples(samples, prior=Uniform()), time_budget_s=5.0)
    assert guided.status is Status.VERIFIED, guided.reason
    assert "mod" in guided.proof and "100" not in guided.proof.split("Bool", 1)[1]
    assert prover.check(problem, guided.proof, CheckLimits(timeout_s=10)).verified
