"""Splitting Lean problem files into header + statements, and loading them as Problems."""

from __future__ import annotations

import json

import pytest

from proofloop.errors import ProblemFormatError
from provers.lean.prover import LeanProver
from provers.lean.source import SourceError, parse_problem_file, parse_problem_text

MINIF2F = """import Mathlib
import Aesop

set_option maxHeartbeats 400000

open BigOperators Real Nat Topology Rat

/-- The volume of a cone is `1/3 * B * h`. Find the volume: theorem fake := sorry -/
theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) (h₁ : v = 1 / 3 * (b * h))
    (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by
  sorry

-- lemma commented_out : False := sorry
/- theorem also_commented (x : ℕ) : x = x := sorry -/

@[simp]
lemma amc12a_2019_p21 (z : ℂ) (h₀ : z = (1 + Complex.I) / Real.sqrt 2) :
  ((∑ k : ℤ in Finset.Icc 1 12, z ^ k ^ 2) * (∑ k : ℤ in Finset.Icc 1 12, 1 / z ^ k ^ 2)) = 36 :=
  sorry

def helper (n : ℕ) : ℕ := n + 1

theorem uses_helper (n : ℕ) : helper n = n + 1 := by sorry

example : (2 : ℕ) + 2 = 4 := sorry
"""


def test_minif2f_file_gives_one_task_per_sorry_theorem():
    tasks = parse_problem_file(MINIF2F, stem="minif2f")
    assert [t.name for t in tasks] == ["mathd_algebra_478", "amc12a_2019_p21", "uses_helper", "minif2f_example_4"]
    first = tasks[0]
    assert first.imports == "import Mathlib\nimport Aesop\n\n"
    assert first.header_body == "set_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
    assert first.statement.startswith("/-- The volume of a cone")
    assert first.statement.endswith("(h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 :=")
    assert first.text == first.header + first.statement
    assert first.line == 8


def test_other_sorry_theorems_stay_out_of_a_header_but_definitions_stay_in():
    tasks = parse_problem_file(MINIF2F)
    second, third = tasks[1], tasks[2]
    assert second.statement.startswith("@[simp]\nlemma amc12a_2019_p21")
    assert "mathd_algebra_478" not in second.header
    assert "def helper" in third.header and "amc12a_2019_p21" not in third.header


def test_example_gets_a_name_and_keeps_its_original_statement():
    task = parse_problem_file(MINIF2F, stem="minif2f")[-1]
    assert task.statement == "theorem minif2f_example_4 : (2 : ℕ) + 2 = 4 :="
    assert task.original_statement == "example : (2 : ℕ) + 2 = 4 :="


def test_namespaces_make_the_full_name():
    text = "namespace Foo\nsection\nvariable (n : Nat)\nend\nnamespace Bar\ntheorem t : n = n := sorry\n"
    task = parse_problem_file(text)[0]
    assert (task.name, task.full_name) == ("t", "Foo.Bar.t")


def test_problem_text_round_trips_through_from_text():
    prover = LeanProver()
    for task in parse_problem_file(MINIF2F, stem="minif2f"):
        problem = prover.from_text(task.text, id=task.name)
        assert problem.text == task.text
        assert problem.meta["statement"] == task.statement
        assert problem.data.header_body == task.header_body


def test_from_text_drops_a_trailing_sorry_and_rejects_a_proof():
    assert parse_problem_text("theorem t : True := by sorry").text == "theorem t : True :="
    with pytest.raises(SourceError, match="found a proof"):
        parse_problem_text("theorem t : True := trivial")
    with pytest.raises(SourceError, match="must end with a theorem"):
        parse_problem_text("import Mathlib\ndef x := 1")


@pytest.mark.parametrize(
    "text, message",
    [
        ("import Mathlib\n\ndef f := 1\n", "no theorem, lemma or example"),
        ("theorem a : True := sorry\ntheorem a : True := sorry\n", "stated twice"),
        ("theorem a : True := sorry\n/- never closed\n", "unterminated comment"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.lean"
    path.write_text(text)
    with pytest.raises(ProblemFormatError, match=message) as e:
        LeanProver().load(path)
    assert str(path) in str(e.value)


def test_load_directory_and_jsonl(tmp_path):
    (tmp_path / "a.lean").write_text("theorem a (n : Nat) : n = n := sorry\n")
    (tmp_path / ".lake").mkdir()
    (tmp_path / ".lake" / "dep.lean").write_text("theorem hidden : True := sorry\n")
    rows = [
        {
            "id": "r1",
            "header": "import Mathlib",
            "statement": "theorem r1 : 1 = 1 :=",
            "reference": "rfl",
            "split": "heldout",
        },
        {"id": "r2", "prover": "lean", "text": "theorem r2 : 2 = 2 :="},
    ]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    prover = LeanProver()
    assert [p.id for p in prover.load(tmp_path)] == ["a"]
    loaded = prover.load(jsonl)
    assert [(p.id, p.split, p.reference) for p in loaded] == [("r1", "heldout", "rfl"), ("r2", "train", None)]
    assert loaded[0].text == "import Mathlib\ntheorem r1 : 1 = 1 :="
    jsonl.write_text('{"id": "x", "header": ""}\n')
    with pytest.raises(ProblemFormatError, match=r"rows.jsonl:1: .*has `header` but no `statement`"):
        prover.load(jsonl)


def test_open_in_prefix_belongs_to_its_theorem():
    text = (
        "import Mathlib\n\nopen Real in\ntheorem r (x : ℝ) : x = x := sorry\n\n"
        "set_option maxHeartbeats 0 in\nlemma s : True := sorry\n"
    )
    r, s = parse_problem_file(text)
    assert (r.name, s.name) == ("r", "s")
    assert r.statement == "open Real in\ntheorem r (x : ℝ) : x = x :="
    assert s.header == "import Mathlib\n\n" and s.statement.startswith("set_option maxHeartbeats 0 in\nlemma s")
