"""The JSONL problem format and `load_problems` (proofloop/problemfile.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proofloop.problemfile as problemfile
from proofloop import prover as prover_registry
from proofloop.errors import ProblemFormatError, ProofloopError
from proofloop.problemfile import (
    ProblemRow,
    bundled_problems_dir,
    load_jsonl,
    load_problems,
    prover_of_jsonl,
    write_jsonl,
)
from proofloop.prover import Prover
from proofloop.types import CheckLimits, Problem, Status, Verdict


class LinesProver(Prover):
    """A tiny prover for these tests: a problem is lines of text, and no line may say 'bad'."""

    suffixes = (".lines",)

    def __init__(self, name: str = "lines"):
        self.name = name

    def version(self) -> str:
        return "1"

    def from_text(self, text, *, id, source="", split="train", reference=None) -> Problem:
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip() == "bad":
                raise ProblemFormatError(None, number, "the word 'bad' is not allowed")
        return Problem(id=id, prover=self.name, text=text, source=source, split=split, reference=reference,
                       meta={"lines": text.count("\n") + 1}, data=text.split("\n"))

    def load(self, path: Path) -> list[Problem]:
        files = sorted(path.rglob("*.lines")) if path.is_dir() else [path]
        root = path if path.is_dir() else path.parent
        return [self.from_text(f.read_text(), id=str(f.relative_to(root).with_suffix("")), source=str(f)) for f in files]

    def prompt(self, problem: Problem) -> str:
        return problem.text

    def extract(self, completion: str, prompt: str = "") -> str:
        return completion.strip()

    def target(self, prompt: str, candidate: str) -> str:
        return candidate

    def check(self, problem: Problem, candidate: str, limits: CheckLimits) -> Verdict:
        ok = candidate == problem.reference
        return Verdict(Status.VERIFIED if ok else Status.REJECTED, self.name, "1")

    def canonical(self, candidate: str) -> str:
        return candidate.strip()


@pytest.fixture(autouse=True)
def register_test_provers(monkeypatch):
    """Register the test provers, and make directory loading consider only them."""
    monkeypatch.setitem(prover_registry._cache, "lines", LinesProver())
    monkeypatch.setitem(prover_registry._cache, "words", LinesProver("words"))
    monkeypatch.setattr(problemfile, "prover_names", lambda: ["lines"])


def problem(id: str, text: str = "one\ntwo", **kw) -> Problem:
    return LinesProver().from_text(text, id=id, **kw)


def write_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


def row(**fields) -> str:
    return json.dumps({"id": "p", "prover": "lines", "text": "t", **fields})


# ---------------------------------------------------------------- round trip


def test_write_then_load_gives_equal_problems(tmp_path):
    problems = [
        problem("a", "(set-logic LIA)\n(check-synth)\n", split="heldout", reference="(define-fun f () Int 1)"),
        problem("b/c", "theorem t : ∀ n : ℕ, n = n := by\n  intro n\n", source="mathlib", reference=None),
        problem("d", "tab\there \u2028 line separator \x85 next line\r\nend", split="train"),
    ]
    path = tmp_path / "p.jsonl"
    write_jsonl(problems, path)
    loaded = load_jsonl(path)
    assert loaded == problems
    assert [p.meta for p in loaded] == [p.meta for p in problems]
    assert [p.data for p in loaded] == [p.data for p in problems]
    assert len(path.read_bytes().split(b"\n")) == 4  # three rows and the final newline
    assert list(tmp_path.iterdir()) == [path]  # the atomic write leaves no temporary file


def test_row_meta_is_kept_and_overrides_the_provers_meta(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", row(meta={"difficulty": 3, "lines": 9}))
    (loaded,) = load_jsonl(path)
    assert loaded.meta == {"lines": 9, "difficulty": 3}
    write_jsonl([loaded], tmp_path / "q.jsonl")
    assert load_jsonl(tmp_path / "q.jsonl")[0].meta == {"lines": 9, "difficulty": 3}


def test_defaults_and_blank_lines(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", "", row(), "   ", row(id="q", split="heldout"), "")
    first, second = load_jsonl(path)
    assert (first.id, first.split, first.reference, first.source) == ("p", "train", None, "")
    assert (second.id, second.split) == ("q", "heldout")
    assert first.data == ["t"]  # parsed by the prover the row names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20),
            st.text(min_size=1, max_size=200).filter(lambda t: all(line.strip() != "bad" for line in t.split("\n"))),
            st.sampled_from(["train", "heldout"]),
            st.none() | st.text(max_size=40),
            st.text(max_size=20),
        ),
        max_size=5,
        unique_by=lambda r: r[0],
    )
)
def test_round_trip_property(tmp_path, rows):
    problems = [problem(i, t, split=s, reference=r, source=src) for i, t, s, r, src in rows]
    path = tmp_path / "h.jsonl"
    write_jsonl(problems, path)
    assert load_jsonl(path) == problems


# ---------------------------------------------------------------- malformed lines


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a", "list"]', "expected a JSON object with the fields id, prover, text"),
    ('{"prover": "lines", "text": "t"}', "id: Field required"),
    (row(id=""), "id: String should have at least 1 character"),
    (row(id=5), "id: Input should be a valid string"),
    (row(text=""), "text: String should have at least 1 character"),
    (row(split="test"), "split: Input should be 'train' or 'heldout'"),
    (row(refrence="(define-fun f () Int 1)"), "refrence: unknown field (allowed: id, prover, text, split"),
    (row(meta=[1, 2]), "meta: Input should be an object"),
    (row(prover="nosuch"), "prover: unknown prover 'nosuch'"),
    (row(text="fine\nbad"), "problem 'p' (line 2 of its text): the word 'bad' is not allowed"),
    ('{"id": "p"}', "prover: Field required (and 1 more problem(s) on this line)"),
]


@pytest.mark.parametrize("line,message", BAD_LINES, ids=[m.split(":")[0][:24] for _, m in BAD_LINES])
def test_malformed_line_names_file_line_and_cause(tmp_path, line, message):
    path = write_lines(tmp_path / "p.jsonl", row(id="ok"), "", line)
    with pytest.raises(ProblemFormatError) as info:
        load_jsonl(path)
    error = info.value
    assert (error.path, error.line) == (str(path), 3)
    assert str(error).startswith(f"{path}:3: ")
    assert message in str(error)
    assert "\n" not in str(error)


def test_non_utf8_line(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", row(), b'{"id": "q\xff"}')
    with pytest.raises(ProblemFormatError, match=r"p\.jsonl:2: not UTF-8 \(byte 10 of the line\)"):
        load_jsonl(path)


def test_duplicate_id_in_file(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", row(id="x"), row(id="y"), row(id="x"))
    with pytest.raises(ProblemFormatError, match=r"p\.jsonl:3: id 'x' already used on line 1$"):
        load_jsonl(path)


def test_unreadable_file(tmp_path):
    with pytest.raises(ProblemFormatError, match="cannot read"):
        load_jsonl(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------- writing


def test_write_refuses_duplicate_ids_and_unserialisable_meta(tmp_path):
    path = tmp_path / "p.jsonl"
    with pytest.raises(ProofloopError, match="two problems share the id 'a'"):
        write_jsonl([problem("a"), problem("a")], path)
    bad = Problem(id="m", prover="lines", text="t", meta={"when": object()})
    with pytest.raises(ProofloopError, match="problem 'm': meta is not JSON-serialisable"):
        write_jsonl([bad], path)
    with pytest.raises(ProofloopError, match="problem 'n': split: Input should be 'train' or 'heldout'"):
        write_jsonl([Problem(id="n", prover="lines", text="t", split="dev")], path)
    assert not path.exists()
    write_jsonl([problem("a")], path)
    assert [p.id for p in load_jsonl(path)] == ["a"]


def test_write_refuses_text_that_is_not_unicode(tmp_path):
    odd = problem("s", "a lone surrogate \udcff")
    with pytest.raises(ProofloopError, match="problem 's': text: Input should be a valid string"):
        write_jsonl([odd], tmp_path / "s.jsonl")


# ---------------------------------------------------------------- prover_of_jsonl


def test_prover_of_jsonl(tmp_path):
    assert prover_of_jsonl(write_lines(tmp_path / "a.jsonl", "", row(), row(id="q"))) == "lines"
    mixed = write_lines(tmp_path / "b.jsonl", row(), row(id="q"), row(id="r", prover="words"))
    with pytest.raises(ProblemFormatError, match=r"b\.jsonl:3: prover 'words' differs from 'lines' on line 1"):
        prover_of_jsonl(mixed)
    with pytest.raises(ProblemFormatError, match=r"c\.jsonl: no problems in file"):
        prover_of_jsonl(write_lines(tmp_path / "c.jsonl", "", " "))


def test_prover_for_path_reads_jsonl(tmp_path, monkeypatch):
    path = write_lines(tmp_path / "a.jsonl", row(prover="words"))
    assert problemfile.prover_for_path(path).name == "words"


# ---------------------------------------------------------------- load_problems


def test_load_problems_from_a_prover_file_and_a_jsonl_file(tmp_path):
    (tmp_path / "one.lines").write_text("hello")
    (loaded,) = load_problems(tmp_path / "one.lines", prover="lines")
    assert (loaded.id, loaded.text) == ("one", "hello")
    write_jsonl([problem("j")], tmp_path / "p.jsonl")
    assert [p.id for p in load_problems(tmp_path / "p.jsonl")] == ["j"]


def test_load_problems_from_a_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.lines").write_text("a")
    (tmp_path / "b.lines").write_text("b")
    (tmp_path / "README.md").write_text("not a problem")
    (tmp_path / ".hidden").mkdir()
    write_lines(tmp_path / ".hidden" / "x.jsonl", "{broken")
    write_jsonl([problem("j1"), problem("j2")], tmp_path / "sub" / "more.jsonl")
    loaded = load_problems(tmp_path)
    assert sorted(p.id for p in loaded) == ["b", "j1", "j2", "sub/a"]
    assert {p.prover for p in loaded} == {"lines"}


def test_load_problems_with_a_prover_refuses_rows_of_another(tmp_path):
    path = write_lines(tmp_path / "w.jsonl", row(prover="words"))
    assert [p.prover for p in load_problems(path, prover="words")] == ["words"]
    with pytest.raises(ProblemFormatError, match=r"w\.jsonl: problem 'p' is for prover 'words', not 'lines'"):
        load_problems(path, prover="lines")


def test_load_problems_refuses_ids_used_twice(tmp_path):
    (tmp_path / "a.lines").write_text("a")
    write_jsonl([problem("a", source="elsewhere")], tmp_path / "p.jsonl")
    with pytest.raises(ProblemFormatError, match=r"problem id 'a' is used twice \(in .*a\.lines and elsewhere\)"):
        load_problems(tmp_path)


def test_load_problems_errors(tmp_path):
    with pytest.raises(ProblemFormatError, match=r"nowhere: no such file or directory"):
        load_problems(tmp_path / "nowhere")
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ProblemFormatError, match=r"no problem files found \(file types here: \.md\)"):
        load_problems(tmp_path)
    empty = write_lines(tmp_path / "e.jsonl", "")
    with pytest.raises(ProblemFormatError, match=r"e\.jsonl: no problems found"):
        load_problems(empty)


# ---------------------------------------------------------------- the bundled set


def test_bundled_problems_dir(repo_root):
    path = bundled_problems_dir()
    assert path == repo_root / "problems" / "sygus"
    assert {p.name for p in path.iterdir() if p.is_dir()} >= {"lia", "inv", "gen"}


def test_bundled_problems_dir_missing(monkeypatch, tmp_path):
    import proofloop

    monkeypatch.setattr(proofloop, "__file__", str(tmp_path / "site-packages" / "proofloop" / "__init__.py"))
    with pytest.raises(ProofloopError, match=r"bundled problems not found \(neither .*bundled nor .*problems/sygus\); reinstall"):
        bundled_problems_dir()


def test_problem_row_schema_lists_the_documented_fields():
    assert list(ProblemRow.model_fields) == ["id", "prover", "text", "split", "reference", "source", "meta"]


# ---------------------------------------------------------------- Lean dataset aliases


def test_lean_dataset_fields_are_aliases_of_the_strict_row(tmp_path):
    lean_row = json.dumps({"id": "a", "header": "one", "statement": "two", "proof": "one\ntwo", "split": "heldout"})
    path = write_lines(tmp_path / "d.jsonl", lean_row, row(id="b", prover="lines"))
    # Rows that name no prover take the caller's default; the rest of the row is as strict as ever.
    a, b = load_jsonl(path, default_prover="lines")
    assert (a.text, a.reference, a.split, a.prover) == ("one\ntwo", "one\ntwo", "heldout", "lines")
    assert b.id == "b"
    with pytest.raises(ProblemFormatError, match=r"d\.jsonl:1: prover: Field required"):
        load_jsonl(path)
    with pytest.raises(ProblemFormatError, match=r"e\.jsonl:1: .*has `header` but no `statement`"):
        load_jsonl(write_lines(tmp_path / "e.jsonl", json.dumps({"id": "x", "header": "h"})), default_prover="lines")
    with pytest.raises(ProblemFormatError, match=r"f\.jsonl:1: refrence: unknown field"):
        load_jsonl(write_lines(tmp_path / "f.jsonl", row(refrence="x")))
