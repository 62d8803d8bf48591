"""The prover interface: declared optional hooks with their defaults, stop strings, the registry."""

from __future__ import annotations

import random

import pytest

from proofloop import prover as prover_registry
from proofloop.errors import ConfigError, ProofloopError
from proofloop.problemfile import bundled_problems_dir, load_problems
from proofloop.prover import Prover, get_prover
from proofloop.types import CheckLimits, Problem


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """What a generator returns for `text`: everything before the first stop string."""
    ends = [text.find(s) for s in stop if s in text]
    return text[: min(ends)] if ends else text


class Bare(Prover):
    name = "bare"


def test_optional_hooks_have_declared_defaults():
    bare = Bare()
    assert (bare.stop, bare.can_sample, bare.can_search) == ((), False, False)
    assert bare.warm([Problem(id="p", prover="bare", text="t")]) == 0
    assert bare.close() is None
    with pytest.raises(ConfigError, match="the bare prover takes no settings table"):
        bare.configure({"x": 1})
    with pytest.raises(ConfigError, match="the bare prover has no grammar sampler"):
        bare.sample(Problem(id="p", prover="bare", text="t"), 1, random.Random(0))
    with pytest.raises(ProofloopError, match="has no proof search"):
        bare.search(Problem(id="p", prover="bare", text="t"), None, params=None, samples=1, time_budget_s=1.0,
                    limits=CheckLimits())
    with pytest.raises(NotImplementedError, match="Bare.check"):
        bare.check(Problem(id="p", prover="bare", text="t"), "c", CheckLimits())


def test_builtin_provers_declare_their_capabilities():
    z3, lean = get_prover("z3"), get_prover("lean")
    assert isinstance(z3, Prover) and isinstance(lean, Prover)
    assert (z3.can_sample, z3.can_search, z3.search_by_default) == (True, True, True)
    assert (lean.can_sample, lean.can_search, lean.search_by_default) == (False, True, False)
    for prover in (z3, lean):
        assert 1 <= len(prover.stop) <= 4 and all(prover.stop)


def test_registry_is_the_entry_points_of_pyproject():
    expected = {"z3": "provers.z3:Z3Prover", "lean": "provers.lean:LeanProver"}
    # The source checkout's table (what a PYTHONPATH run reads) and the merged registry agree.
    assert prover_registry._source_tree_entry_points() == expected
    assert {k: prover_registry.registry()[k] for k in expected} == expected
    with pytest.raises(ConfigError, match="unknown prover 'nope'; known provers: .*lean.*z3"):
        get_prover("nope")


def test_z3_stop_never_cuts_a_valid_answer():
    """Every bundled reference, written as the model is trained to write it and followed by a
    run-on into another problem, is cut by the stop strings to exactly that answer."""
    z3 = get_prover("z3")
    problems = [p for p in load_problems(bundled_problems_dir()) if p.reference]
    assert len(problems) > 100
    multi = 0
    for problem in problems:
        prompt = z3.prompt(problem)
        target = z3.target(prompt, problem.reference)
        assert target is not None, problem.id
        assert not any(s in target for s in z3.stop), problem.id
        multi += "\n(define-fun" in target
        for run_on in ("\n(constraint (= 1 1))", "\n(check-synth)\n", "\n(declare-var q Int)", "\n(inv-constraint a b c d)"):
            completion = cut_at_stop(target + run_on, z3.stop)
            assert completion == target
            candidate = z3.extract(completion, prompt)
            assert z3.canonical(candidate) == z3.canonical(problem.reference), problem.id
    assert multi >= 2  # the multi-function problems keep every definition


def test_lean_stop_ends_the_proof_where_extract_does():
    lean = get_prover("lean")
    problem = lean.from_text("theorem t (a b : Nat) : a + b = b + a :=", id="t")
    prompt = lean.prompt(problem)
    proof = "by\n  omega"
    completion = cut_at_stop(lean.target(prompt, proof) + "\n\nNext problem: ...", lean.stop)
    assert lean.extract(completion, prompt) == proof
    # A chat-style fenced answer keeps its body.
    fenced = cut_at_stop("```lean4\n" + proof + "\n```\nThat proves it.", lean.stop)
    assert lean.extract(fenced, prompt) == proof


def test_the_prover_interface_does_not_import_the_problem_loader():
    """problemfile builds on the registry; the registry must not reach back (no import cycle)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(prover_registry))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m.startswith("proofloop.problemfile") for m in imported)
