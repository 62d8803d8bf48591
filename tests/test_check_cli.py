"""`proofloop check`: exact outputs and exit codes, candidates from every source, interactive use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.commands.check import MORE, PROMPT, _LineReader, paren_depth, read_one
from proofloop.errors import CheckerCrash
from proofloop.types import CheckLimits
from provers.z3 import Z3Prover

REPO = Path(__file__).resolve().parents[1]
PROOFLOOP = Path(sys.executable).parent / "proofloop"
VERSION = Z3Prover().version()

# One input breaks the wrong candidate (x = 3), so the counterexample is always the same.
AT_THREE = """\
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (=> (= x 3) (= (f x) 4)))
(check-synth)
"""
RIGHT = "(define-fun f ((x Int)) Int (+ x 1))"
WRONG = "(define-fun f ((x Int)) Int x)"

COUNTDOWN = """\
(set-logic LIA)
(synth-inv inv ((x Int)))
(define-fun pre ((x Int)) Bool (= x 2))
(define-fun trans ((x Int) (x! Int)) Bool (and (> x 0) (= x! (- x 1))))
(define-fun post ((x Int)) Bool (>= x 0))
(inv-constraint inv pre trans post)
(check-synth)
"""
# Holds at 2, and 2 steps to 1, where it fails: consecution breaks at x = 2 -> 1.
INV_WRONG = "(define-fun inv ((x Int)) Bool (= x 2))"
INV_RIGHT = "(define-fun inv ((x Int)) Bool (and (>= x 0) (<= x 2)))"

# Fermat for cubes: true, but beyond what Z3 decides in a fraction of a second.
FERMAT = """\
(set-logic NIA)
(synth-fun f ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (=> (and (> x 0) (> y 0) (> z 0) (= (f x y z) 0)) (distinct (+ (* x x x) (* y y y)) (* z z z))))
(check-synth)
"""

TIME = re.compile(r"· \d+\.\d{3} s")


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch):
    """A fixed, colourless terminal so that outputs compare exactly."""
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PROOFLOOP_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def at_three(tmp_path) -> Path:
    path = tmp_path / "at_three.sl"
    path.write_text(AT_THREE)
    return path


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(app, ["check", *args], input=input)


def footer() -> str:
    return f"checker z3 {VERSION} · T s"


def untimed(text: str) -> str:
    return TIME.sub("· T s", "\n".join(line.rstrip() for line in text.splitlines()))


def message_of(path: Path, candidate: str) -> str:
    """The checker's own message, so these tests pin the layout rather than the checker's wording."""
    problem = Z3Prover().load(path)[0]
    return Z3Prover().check(problem, candidate, CheckLimits()).message


def test_verified(at_three):
    result = run(str(at_three), "--candidate", RIGHT)
    assert result.exit_code == 0
    assert untimed(result.stdout) == f"VERIFIED\n{footer()}"
    assert result.stderr == ""


def test_rejected_with_counterexample(at_three):
    result = run(str(at_three), "-c", WRONG)
    assert result.exit_code == 1
    assert untimed(result.stdout) == "\n".join([
        f"REJECTED (counterexample): {message_of(at_three, WRONG)}",
        "  variable   value",
        "  ────────────────",
        "  x          3",
        "  violated: (=> (= x 3) (= (f x) 4))",
        "  the candidate computed   value",
        "  ──────────────────────────────",
        "  (f 3)                    3",
        footer(),
    ])


def test_invariant_rejection_names_the_condition_and_both_states(tmp_path):
    path = tmp_path / "countdown.sl"
    path.write_text(COUNTDOWN)
    result = run(str(path), "-c", INV_WRONG)
    assert result.exit_code == 1
    assert untimed(result.stdout) == "\n".join([
        f"REJECTED (counterexample): {message_of(path, INV_WRONG)}",
        "  failed condition: consecution",
        "  variable   state   next state",
        "  ─────────────────────────────",
        "  x          2       1",
        footer(),
    ])
    assert run(str(path), "-c", INV_RIGHT).exit_code == 0


def test_unknown_on_a_hard_nonlinear_problem(tmp_path):
    path = tmp_path / "fermat.sl"
    path.write_text(FERMAT)
    result = run(str(path), "-c", "(define-fun f ((x Int) (y Int) (z Int)) Int 0)", "--timeout", "0.2")
    assert result.exit_code == 3
    first = result.stdout.splitlines()[0]
    assert first.startswith("UNKNOWN (timeout): ")
    assert untimed(result.stdout).endswith(footer())


def test_malformed_problem_file_is_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "broken.sl"
    path.write_text("(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(declare-var x Int\n(check-synth)\n")
    result = run(str(path), "-c", RIGHT)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}:3: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_problem_file(tmp_path):
    result = run(str(tmp_path / "nope.sl"), "-c", RIGHT)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"error: {tmp_path / 'nope.sl'}: no such file")
    assert result.stderr.count("\n") == 1


def test_file_no_prover_reads(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = run(str(path), "-c", RIGHT)
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: no prover reads files of this type (.txt)\n"


def test_json_is_one_object_with_the_verdict_problem_and_file(at_three):
    result = run(str(at_three), "-c", WRONG, "--json")
    assert result.exit_code == 1
    assert result.stdout.count("\n") == 1
    obj = json.loads(result.stdout)
    assert set(obj) == {"status", "reason", "message", "counterexample", "checker", "checker_version",
                        "seconds", "problem", "file"}
    assert (obj["status"], obj["reason"], obj["problem"], obj["file"]) == (
        "rejected", "counterexample", "at_three", str(at_three))
    assert (obj["checker"], obj["checker_version"]) == ("z3", VERSION)
    assert obj["counterexample"]["values"] == {"x": "3"}
    ok = json.loads(run(str(at_three), "-c", RIGHT, "--json").stdout)
    assert (ok["status"], ok["counterexample"]) == ("verified", None)


def test_candidate_from_stdin_file_and_literal_agree(at_three, tmp_path):
    cand = tmp_path / "cand.smt"
    for text, code in ((RIGHT, 0), (WRONG, 1)):
        cand.write_text(text)
        assert run(str(at_three), "-c", "-", "--json", input=text).exit_code == code
        assert run(str(at_three), "-c", str(cand), "--json").exit_code == code
        assert run(str(at_three), "-c", text, "--json").exit_code == code


def test_non_utf8_candidate_file_is_rejected_cleanly(at_three, tmp_path):
    cand = tmp_path / "cand.bin"
    cand.write_bytes(b"(define-fun f ((x Int)) Int \xff)")
    result = run(str(at_three), "-c", str(cand), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "rejected"
    stdin = run(str(at_three), "-c", "-", "--json", input=b"\xfe\xff(define-fun")
    assert stdin.exit_code == 1


def test_a_path_that_does_not_exist_is_taken_as_candidate_text(at_three, tmp_path):
    result = run(str(at_three), "-c", str(tmp_path / "missing.txt"), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "rejected"


def test_theorem_picks_one_problem_of_several(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "a.sl").write_text(AT_THREE)
    (tmp_path / "set" / "b.sl").write_text(AT_THREE.replace("(= (f x) 4)", "(= (f x) 3)"))
    folder = str(tmp_path / "set")
    none = run(folder, "-c", WRONG)
    assert (none.exit_code, none.stderr) == (2, f"error: {folder}: holds 2 problems; pick one with --theorem: a, b\n")
    assert run(folder, "-c", WRONG, "--theorem", "a").exit_code == 1
    assert run(folder, "-c", WRONG, "--theorem", "b").exit_code == 0
    missing = run(folder, "-c", WRONG, "--theorem", "c")
    assert (missing.exit_code, missing.stderr) == (2, f"error: {folder}: no problem named 'c'; it holds: a, b\n")


def test_jsonl_problem_file_with_theorem(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [
        {"id": "lia/at_three", "prover": "z3", "text": AT_THREE},
        {"id": "lia/at_three_eq", "prover": "z3", "text": AT_THREE.replace("(= (f x) 4)", "(= (f x) 3)"),
         "meta": {"theorem": "same"}},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = run(str(path), "-c", WRONG, "--theorem", "at_three", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problem"] == "lia/at_three"
    assert run(str(path), "-c", WRONG, "--theorem", "lia/at_three_eq").exit_code == 0
    assert run(str(path), "-c", WRONG, "--theorem", "same").exit_code == 0
    assert run(str(path), "-c", WRONG).stderr == (
        f"error: {path}: holds 2 problems; pick one with --theorem: lia/at_three, lia/at_three_eq\n")


def test_usage_errors_exit_2(at_three):
    assert run(str(at_three)).stderr == "error: give either --candidate or --interactive\n"
    assert run(str(at_three), "-c", RIGHT, "--interactive").exit_code == 2
    assert run(str(at_three), "-c", RIGHT, "--timeout", "0").exit_code == 2


def test_checker_crash_exits_4(at_three, monkeypatch):
    def crash(self, problem, candidate, limits=None):
        raise CheckerCrash("Z3 failed: out of luck")

    monkeypatch.setattr(Z3Prover, "check", crash)
    result = run(str(at_three), "-c", RIGHT)
    assert (result.exit_code, result.stdout, result.stderr) == (4, "", "error: Z3 failed: out of luck\n")


def test_help_documents_the_exit_codes():
    result = CliRunner().invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    for line in ("0  verified", "1  rejected", "2  bad input or usage", "3  unknown", "4  the checker itself crashed"):
        assert line in result.stdout


# ---- interactive ---------------------------------------------------------------------------------

SESSION = f"""\
{RIGHT}

(define-fun f ((x Int))
    Int
  x)  ; a comment with a ( paren
(define-fun f
"""


def test_interactive_session_over_a_pipe(at_three):
    proc = subprocess.run(
        [str(PROOFLOOP), "check", str(at_three), "--interactive"],
        input=SESSION.encode(), capture_output=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    headlines = [line for line in out.splitlines() if line.split(" ")[0] in ("VERIFIED", "REJECTED", "UNKNOWN")]
    assert headlines[0] == "VERIFIED"
    assert headlines[1].startswith("REJECTED (counterexample): ")
    assert headlines[2].startswith("REJECTED (parse): ")
    assert len(headlines) == 3
    assert "  (f 3)                    3" in out
    err = proc.stderr.decode()
    assert err.startswith("checking candidates for at_three; end with Ctrl-D\n")
    # A blank line between candidates prompts again; the last prompt meets the end of input.
    assert err.count(PROMPT) == 4 and err.count(MORE) == 3


def test_interactive_json_lines_via_cli_runner(at_three):
    result = run(str(at_three), "-i", "--json", input=f"{WRONG}\nnot a candidate\n\n{RIGHT}\n")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["status"] for o in lines] == ["rejected", "rejected", "verified"]
    assert lines[0]["reason"] == "counterexample" and lines[1]["reason"] not in ("", "counterexample")
    assert {o["problem"] for o in lines} == {"at_three"}


def test_interactive_empty_input_ends_at_once(at_three):
    result = run(str(at_three), "--interactive", input="")
    assert (result.exit_code, result.stdout) == (0, "")


class _Lines(_LineReader):
    def __init__(self, lines: list[bytes]):
        self.lines, self.eof, self.prompts = list(lines), False, []

    def readline(self, prompt: str) -> bytes | None:
        self.prompts.append(prompt)
        return self.lines.pop(0) if self.lines else None


def test_read_one_balances_parentheses_outside_strings_symbols_and_comments():
    reader = _Lines([b"\n", b'(define-fun f () String ")(")\n', b"(a |)(| ; )\n", b")\n", b"free text\n", b"\n"])
    assert read_one(reader) == b'(define-fun f () String ")(")\n'
    assert read_one(reader) == b"(a |)(| ; )\n)\n"
    assert read_one(reader) == b"free text\n\n"
    assert read_one(reader) is None
    assert reader.prompts[:4] == [PROMPT, PROMPT, PROMPT, MORE]


def test_paren_depth():
    assert paren_depth(b"(a (b c)") == 1
    assert paren_depth(b"(a) )") == -1
    assert paren_depth(b'("((" |((| ; ((\n)') == 0


# ---- the shared benchmarks -----------------------------------------------------------------------


def _trivial_candidate(problem) -> str:
    """A well-formed candidate of the right signature (usually wrong): 0 or true for each function."""
    out = []
    for f in problem.data.synth_funs:
        params = " ".join(f"({n} {s})" for n, s in f.params)
        body = {"Int": "0", "Bool": "true"}.get(f.sort, "0")
        out.append(f"(define-fun {f.name} ({params}) {f.sort} {body})")
    return "\n".join(out)


@pytest.mark.shared
@pytest.mark.parametrize("track", ["CLIA_Track", "Inv_Track"])
def test_check_runs_on_shared_files_that_load(shared_benchmarks, track):
    from proofloop.errors import ProofloopError

    checked = 0
    for path in sorted((shared_benchmarks / track).rglob("*.sl")):
        try:
            problem = Z3Prover().load(path)[0]
        except ProofloopError:
            continue
        if any(f.sort not in ("Int", "Bool") for f in problem.data.synth_funs):
            continue
        result = run(str(path), "-c", _trivial_candidate(problem), "--json", "--timeout", "2")
        assert result.exit_code in (0, 1, 3), (path, result.stdout, result.stderr)
        obj = json.loads(result.stdout)
        assert obj["problem"] == path.stem and obj["status"] in ("verified", "rejected", "unknown")
        assert obj["reason"] not in ("parse", "signature"), (path, obj["message"])
        checked += 1
        if checked == 4:
            break
    assert checked == 4


# ---- rendering ---------------------------------------------------------------------------------------


def _rendered(verdict) -> str:
    import io

    from rich.console import Console

    from proofloop.render import print_verdict

    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    print_verdict(console, verdict)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def test_render_keeps_keys_it_does_not_know():
    from proofloop.types import Status, Verdict

    verdict = Verdict(
        status=Status.REJECTED, checker="lean", checker_version="4.9.0", seconds=1.5, reason="error",
        message="type mismatch",
        counterexample={"goals": {"h": "n > 0"}, "errors": [{"line": 3, "message": "type mismatch"}], "note": None},
    )
    assert _rendered(verdict) == "\n".join([
        "REJECTED (error): type mismatch",
        "  goals   value",
        "  ─────────────",
        "  h       n > 0",
        '  errors: [{"line": 3, "message": "type mismatch"}]',
        "checker lean 4.9.0 · 1.500 s",
    ])
    plain = Verdict(status=Status.UNKNOWN, checker="lean", checker_version="4.9.0", reason="timeout")
    assert _rendered(plain) == "UNKNOWN (timeout)\nchecker lean 4.9.0 · 0.000 s"
