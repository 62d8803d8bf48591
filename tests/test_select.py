"""Dataset building: verified rows, accumulation in the store, dedup, the dissimilarity cap, mixing."""

from __future__ import annotations

from proofloop.select import (
    jaccard_distance,
    most_dissimilar,
    probe_problems,
    seed_problems,
    training_set,
    verified_rows,
)
from proofloop.store import AttemptRow, DatasetRow, Store
from proofloop.types import Problem, Status, Verdict


def att(id: int, pid: str, chash: str, status: str | None, candidate: str | None = None) -> dict:
    return {
        "id": id, "problem_id": pid, "canonical_hash": chash, "candidate": candidate or f"cand-{chash}",
        "status": status, "generator": "grammar", "checker": "z3", "checker_version": "1", "verdict_seconds": 0.1,
    }


def row(pid: str, candidate: str, chash: str | None = None, id: int | None = None) -> DatasetRow:
    return DatasetRow(problem_id=pid, candidate=candidate, canonical_hash=chash or candidate, origin="verified",
                      round=0, id=id)


def test_verified_rows_keep_one_row_per_canonical_form_first_sample_wins():
    attempts = [
        att(1, "p", "a", "rejected"),
        att(2, "p", "b", "verified", "(+ x 1)"),
        att(3, "p", "b", "verified", "(+ 1 x)"),
        att(4, "q", "b", "verified"),
        att(5, "q", "c", None),
        att(6, "q", "d", "unknown"),
    ]
    rows = verified_rows(attempts, round=3)
    assert [(r.problem_id, r.canonical_hash, r.attempt_id, r.candidate) for r in rows] == [
        ("p", "b", 2, "(+ x 1)"),
        ("q", "b", 4, "cand-b"),
    ]
    assert all(r.origin == "verified" and r.round == 3 and r.checker == "z3" for r in rows)


def test_jaccard_distance():
    a, b = frozenset("xy"), frozenset("yz")
    assert jaccard_distance(a, b) == 1 - 1 / 3
    assert jaccard_distance(a, a) == 0.0
    assert jaccard_distance(frozenset(), frozenset()) == 0.0


def test_cap_prefers_the_most_dissimilar_solutions():
    texts = ["(+ x 1)", "(+ 1 x)", "(ite (> x y) x y)", "(+ x (+ 0 1))"]
    # "(+ 1 x)" has the same tokens as the first; the ite is furthest from it, then the nested sum.
    assert most_dissimilar(texts, 2) == [0, 2]
    assert most_dissimilar(texts, 3) == [0, 2, 3]
    assert most_dissimilar(texts, 10) == [0, 1, 2, 3]
    assert most_dissimilar(texts, 0) == [] and most_dissimilar([], 3) == []


def test_training_set_caps_per_problem():
    rows = [row("p", t) for t in ("(+ x 1)", "(+ 1 x)", "(ite (> x y) x y)")] + [row("q", "(- y 2)")]
    chosen = training_set(rows, cap=2)
    assert [(r.problem_id, r.candidate) for r in chosen] == [("p", "(+ x 1)"), ("p", "(ite (> x y) x y)"), ("q", "(- y 2)")]
    assert len(training_set(rows, cap=1)) == 2


def test_without_dedup_rows_repeat_by_how_often_they_verified():
    rows = [row("p", "(+ x 1)"), row("p", "(ite (> x y) x y)")]
    counts = {"(+ x 1)": 3, "(ite (> x y) x y)": 1}
    chosen = training_set(rows, cap=2, dedup=False, multiplicity=lambda r: counts[r.candidate])
    assert [r.candidate for r in chosen] == ["(+ x 1)"] * 3 + ["(ite (> x y) x y)"]
    assert len(training_set(rows, cap=2, dedup=True, multiplicity=lambda r: counts[r.candidate])) == 2


def test_seed_problems_take_a_fixed_fraction_of_those_with_references():
    problems = [Problem(id=f"p{i}", prover="z3", text="t", reference="r" if i % 2 == 0 else None) for i in range(20)]
    chosen = seed_problems(problems, 0.5, seed=0)
    assert len(chosen) == 5 and all(p.reference for p in chosen)
    assert [p.id for p in seed_problems(problems, 0.5, seed=0)] == [p.id for p in chosen]
    assert seed_problems(problems, 0.0, seed=0) == []
    assert len(seed_problems(problems, 1.0, seed=3)) == 10


def test_probe_set_is_stable_as_more_problems_are_solved():
    first = probe_problems([f"p{i}" for i in range(10)], 4, seed=1)
    later = probe_problems([f"p{i}" for i in range(10)] + ["p99"], 4, seed=1)
    assert len(first) == 4 and len(set(first) & set(later)) >= 3
    assert sorted(probe_problems(["a", "b", "a"], 4, seed=1)) == ["a", "b"]
    assert probe_problems([], 4, seed=1) == []


def test_accumulation_across_rounds_never_replaces(tmp_path):
    problems = [Problem(id="p", prover="z3", text="t"), Problem(id="q", prover="z3", text="u")]
    with Store.create(tmp_path / "run", {}) as store:
        store.add_problems(problems, ["P", "Q"])
        # Round 0 finds two forms for p; round 1 finds one of them again, a new one for p, and q.
        found = {0: [("p", "a", "(+ x 1)"), ("p", "b", "(ite c x y)")], 1: [("p", "a", "(+ 1 x)"), ("p", "c", "(- x 0)"), ("q", "d", "y")]}
        for r, items in found.items():
            store.add_attempts(
                AttemptRow(r, "train", pid, i, cand, cand, cand, chash, "g", {}) for i, (pid, chash, cand) in enumerate(items)
            )
            store.put_verdicts((pid, chash, Verdict(Status.VERIFIED, "z3", "1")) for pid, chash, _ in items)
            store.add_dataset_rows(verified_rows(store.attempts(r, "train", "z3", "1"), r))
        rows = store.dataset_rows()
        assert [(r.problem_id, r.candidate, r.round) for r in rows] == [
            ("p", "(+ x 1)", 0), ("p", "(ite c x y)", 0), ("p", "(- x 0)", 1), ("q", "y", 1)
        ]
        assert len(training_set(rows, cap=2)) == 3
