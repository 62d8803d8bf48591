"""The bundled SyGuS problems: they load, every reference verifies, wrong variants are rejected."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from proofloop.problemfile import bundled_problems_dir, load_jsonl, load_problems, write_jsonl
from proofloop.prover import get_prover
from proofloop.types import CheckLimits, Problem, Status

BUNDLED = Path(__file__).resolve().parents[1] / "problems" / "sygus"
IDS = sorted(str(p.relative_to(BUNDLED).with_suffix("")) for p in BUNDLED.rglob("*.sl"))
LIMITS = CheckLimits(timeout_s=30)
# Every hand-written problem, and one generated problem in eight: problems/generate.py verifies
# each generated reference with Z3 before writing it, and test_problems_generate.py checks that
# the bundled files are byte for byte what it writes.
CHECKED = [pid for pid in IDS if not pid.startswith("gen/")] + [pid for pid in IDS if pid.startswith("gen/")][::8]


@pytest.fixture(scope="module")
def problems() -> dict[str, Problem]:
    return {p.id: p for p in load_problems(bundled_problems_dir(), prover="z3")}


def elements(text: str) -> list[str]:
    """The top-level items of an s-expression sequence: atoms and balanced groups."""
    items, depth, start = [], 0, 0
    for token in re.finditer(r"\(|\)|[^\s()]+", text):
        if depth == 0:
            start = token.start()
        depth += {"(": 1, ")": -1}.get(token.group(), 0)
        if depth == 0:
            items.append(text[start : token.end()])
    assert depth == 0, text
    return items


def wrong_variant(reference: str) -> str:
    """The reference with its first function's result changed: plus one, or negated."""
    first, *rest = elements(reference)
    head, name, params, sort, body = elements(first[1:-1])
    assert head == "define-fun", reference
    body = f"(not {body})" if sort == "Bool" else f"(+ {body} 1)"
    return "\n".join([f"({head} {name} {params} {sort} {body})", *rest])


def test_wrong_variant_helper():
    ref = "(define-fun lo ((x Int) (y Int)) Int (ite (<= x y) x y))\n(define-fun hi ((x Int)) Int x)"
    assert wrong_variant(ref) == (
        "(define-fun lo ((x Int) (y Int)) Int (+ (ite (<= x y) x y) 1))\n(define-fun hi ((x Int)) Int x)"
    )
    assert wrong_variant("(define-fun p ((a Bool)) Bool a)") == "(define-fun p ((a Bool)) Bool (not a))"


def test_every_file_loads_with_its_split_and_reference(problems):
    assert sorted(problems) == IDS
    for pid, problem in problems.items():
        assert problem.prover == "z3", pid
        assert problem.split in ("train", "heldout"), pid
        assert problem.reference and problem.reference.startswith("(define-fun "), pid
        assert Path(problem.source).resolve() == (BUNDLED / f"{pid}.sl").resolve(), pid


def test_counts_meet_the_minimums_and_splits_are_disjoint(problems):
    groups = Counter((pid.split("/")[0], p.split) for pid, p in problems.items())
    assert groups["lia", "train"] + groups["lia", "heldout"] >= 40
    assert groups["inv", "train"] + groups["inv", "heldout"] >= 20
    assert groups["gen", "train"] + groups["gen", "heldout"] >= 200
    for group in ("lia", "inv"):
        assert groups[group, "heldout"] >= 0.15 * (groups[group, "train"] + groups[group, "heldout"]), group
    # the generated ladder is a large train pool; its held-out set is one in 16 of each (family, level)
    assert groups["gen", "heldout"] >= 100 and groups["gen", "train"] >= 1500
    train = {p.text for p in problems.values() if p.split == "train"}
    heldout = {p.text for p in problems.values() if p.split == "heldout"}
    assert not train & heldout
    assert len(train) + len(heldout) == len(problems)


def test_hand_written_problems_cover_the_sygus_features(problems):
    texts = {pid: p.text for pid, p in problems.items() if not pid.startswith("gen/")}
    assert sum("(synth-inv " in t for t in texts.values()) >= 20
    assert sum("(inv-constraint " in t for t in texts.values()) >= 20
    assert sum("((Start Int" in t for t in texts.values()) >= 4  # with a grammar
    assert any("(Constant Int)" in t for t in texts.values())
    assert any("(Variable Int)" in t for t in texts.values())
    assert any("(assume " in t for t in texts.values())
    assert any(t.count("(synth-fun ") == 2 for t in texts.values())
    assert any(") Bool)" in t and "(synth-fun " in t for t in texts.values())


@pytest.mark.parametrize("pid", CHECKED)
def test_reference_verifies_and_a_wrong_variant_is_rejected(problems, pid):
    problem = problems[pid]
    z3 = get_prover("z3")
    verdict = z3.check(problem, problem.reference, LIMITS)
    assert verdict.status is Status.VERIFIED, (pid, verdict.reason, verdict.message)
    wrong = z3.check(problem, wrong_variant(problem.reference), LIMITS)
    assert wrong.status is Status.REJECTED, (pid, wrong.reason, wrong.message)


def test_bundled_set_round_trips_through_jsonl(problems, tmp_path):
    path = tmp_path / "bundled.jsonl"
    write_jsonl(problems.values(), path)
    loaded = load_jsonl(path)
    assert loaded == list(problems.values())
    z3 = get_prover("z3")
    for problem in loaded[:: len(loaded) // 10]:  # the re-parsed problems check the same way
        assert z3.check(problem, problem.reference, LIMITS).status is Status.VERIFIED, problem.id
    assert [p.id for p in load_problems(path, prover="z3")] == [p.id for p in loaded]
