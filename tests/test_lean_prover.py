"""LeanProver without Lean: toolchain discovery, the CLI's exit codes, config, prompts, import.

Where a toolchain is needed, the tools are TEST DOUBLES: shell scripts named `lean` and `lake`
that print what the real ones print, and tests/lean_repl_double.py as `repl`. They test the
discovery logic and the wiring, not Lean.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import proofloop.prover
from proofloop.cli import app
from proofloop.errors import ConfigError, ProblemFormatError, ToolchainMissing
from proofloop.rules import rules_version
from proofloop.types import CheckLimits, Status
from provers.lean.leandojo import theorems_to_problems
from provers.lean.prover import LeanProver
from provers.lean import toolchain
from provers.lean.toolchain import ENV_CONFIG, ENV_LEAN, ENV_MODE, LeanConfig, discover

LEAN_RULES = rules_version("provers.lean.prover", "provers.lean.guards", "provers.lean.filecheck")

DOUBLE = Path(__file__).with_name("lean_repl_double.py")
PROBLEM = "theorem two (n : Nat) : n + 0 = n := by\n  sorry\n"


@pytest.fixture
def bare_env(tmp_path, monkeypatch):
    """No Lean anywhere: an empty PATH, no ~/.elan, no proofloop Lean settings, no cached prover."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("PROOFLOOP_LEAN_PROJECT", "PROOFLOOP_LEAN_REPL", ENV_CONFIG, ENV_LEAN, ENV_MODE):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(toolchain, "REPO_CACHE_LEAN", tmp_path / "no-cache" / "lean")
    monkeypatch.setattr(proofloop.prover, "_cache", {})
    return empty


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_lean(bin_dir: Path, works: bool = True) -> None:
    """TEST DOUBLE of `lean --version` and `lean --print-libdir` (a library that holds Init)."""
    if works:
        lib = bin_dir / "fake-lib"
        lib.mkdir(exist_ok=True)
        (lib / "Init.olean").write_bytes(b"")
        script(bin_dir / "lean", f'[ "$1" = --print-libdir ] && {{ echo "{lib}"; exit 0; }}\n'
               'echo "Lean (version 4.9.0, x86_64-unknown-linux-gnu, commit abc123, Release)"\n')
    else:
        script(bin_dir / "lean", 'echo "error: toolchain not installed" >&2\nexit 1\n')


def fake_repl(path: Path) -> Path:
    """TEST DOUBLE of the REPL binary: runs tests/lean_repl_double.py."""
    return script(path, f'exec "{sys.executable}" "{DOUBLE}"\n')


# -- discovery ------------------------------------------------------------------------------


def test_nothing_installed_names_what_was_looked_for(bare_env):
    with pytest.raises(ToolchainMissing) as e:
        discover(LeanConfig.from_env())  # auto: no REPL anywhere, so the whole-file mode's `lean`
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("$PROOFLOOP_LEAN_BIN unset", "no `lean` on PATH", "no-cache/lean", "make lean", "elan"):
        assert part in msg
    with pytest.raises(ToolchainMissing) as e:
        discover(LeanConfig.from_env(mode="repl"))
    msg = str(e.value)
    assert "\n" not in msg
    for part in (
        "$PROOFLOOP_LEAN_PROJECT (unset)",
        "`repl` on PATH (absent)",
        "`lean` on PATH: absent",
        "elan",
        "lake build repl",
    ):
        assert part in msg


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "is not a directory"),
        ("no-lakefile", "is not a Lake project"),
        ("no-repl", "the Lean REPL is not built in"),
        ("no-lake", "`lake` is not on PATH"),
    ],
)
def test_broken_project_says_what_is_missing(bare_env, tmp_path, layout, message):
    project = tmp_path / "proj"
    if layout != "missing":
        project.mkdir()
    if layout in ("no-repl", "no-lake"):
        (project / "lakefile.lean").write_text("import Lake\n")
    if layout == "no-lake":
        (project / ".lake/build/bin").mkdir(parents=True)
        fake_repl(project / ".lake/build/bin/repl")
    with pytest.raises(ToolchainMissing, match=message):
        discover(LeanConfig(project=project))


def test_broken_lean_is_reported(bare_env):
    fake_lean(bare_env, works=False)
    fake_repl(bare_env / "repl")
    with pytest.raises(ToolchainMissing, match=r"--version` is broken \(exit 1: error: toolchain not installed\)"):
        discover(LeanConfig())


def test_project_mode_reads_lake_env_and_finds_the_repl(bare_env, tmp_path):
    fake_lean(bare_env)
    # TEST DOUBLE of `lake env CMD...`: run CMD with LEAN_PATH set, as lake does.
    script(bare_env / "lake", '[ "$1" = env ] || exit 2\nshift\nLEAN_PATH=/proj/.lake/build/lib exec "$@"\n')
    project = tmp_path / "proj"
    (project / ".lake/packages/REPL/.lake/build/bin").mkdir(parents=True)
    (project / "lakefile.toml").write_text('name = "proj"\n')
    repl = fake_repl(project / ".lake/packages/REPL/.lake/build/bin/repl")
    tc = discover(LeanConfig(project=project))
    assert (tc.repl, tc.lean_version, tc.project) == (repl, "4.9.0", project)
    assert tc.env["LEAN_PATH"] == "/proj/.lake/build/lib"
    assert tc.version == "lean 4.9.0 (repl)"


def test_path_mode_checks_through_discovery(bare_env, tmp_path):
    fake_lean(bare_env)
    fake_repl(bare_env / "repl")
    path = tmp_path / "p.lean"
    path.write_text(PROBLEM)
    prover = LeanProver(LeanConfig())
    (problem,) = prover.load(path)
    verdict = prover.check(problem, "by simp", CheckLimits(timeout_s=5))
    assert verdict.status is Status.VERIFIED  # the double's answer: wiring, not Lean
    assert verdict.checker_version == f"lean 4.9.0 (repl); rules {LEAN_RULES}"
    prover.close()


def test_lean4checker_requested_but_absent(bare_env):
    fake_lean(bare_env)
    fake_repl(bare_env / "repl")
    with pytest.raises(ToolchainMissing, match="lean4checker is not installed"):
        discover(LeanConfig(lean4checker=True))


# -- the CLI without a toolchain -------------------------------------------------------------


@pytest.fixture
def problem_file(tmp_path):
    path = tmp_path / "p.lean"
    path.write_text(PROBLEM + "\ntheorem other : True := sorry\n")
    return path


def test_cli_guard_rejection_needs_no_toolchain(bare_env, problem_file):
    result = CliRunner().invoke(
        app, ["check", str(problem_file), "--theorem", "two", "--candidate", "by\n  simp\n  sorry"]
    )
    assert result.exit_code == 1, result.output
    assert "guard:sorry" in result.output


def test_cli_clean_candidate_without_toolchain_is_exit_2(bare_env, problem_file):
    result = CliRunner().invoke(app, ["check", str(problem_file), "--theorem", "two", "--candidate", "by simp"])
    assert result.exit_code == 2
    assert result.output.startswith("error: Lean not found: ")
    assert result.output.count("\n") == 1


def test_cli_import_leandojo_without_lean_dojo(bare_env, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lean_dojo", None)  # makes `import lean_dojo` fail
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["import-leandojo", "https://github.com/yangky11/lean4-example", "--commit", "abc", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.output == "error: lean-dojo is not installed: pip install 'proofloop[lean]'\n"
    assert not out.exists()


# -- config, prompts, canonical form ----------------------------------------------------------


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match=r"\[lean\] max_uses: Input should be greater than or equal to 1"):
        LeanConfig.from_section({"max_uses": 0})
    with pytest.raises(ConfigError, match=r"\[lean\] projet: Extra inputs are not permitted"):
        LeanConfig.from_section({"projet": "/x"})


def test_configure_reaches_checking_processes_through_settings(bare_env, tmp_path, monkeypatch):
    prover = LeanProver()
    prover.configure({"project": str(tmp_path), "max_uses": 7})
    assert prover.settings() == {"project": str(tmp_path), "max_uses": 7}
    worker = LeanProver()  # what a checking process builds, then configures with the settings
    worker.configure(prover.settings())
    assert worker.config == prover.config == LeanConfig(project=tmp_path, max_uses=7)
    assert ENV_CONFIG not in os.environ  # nothing travels through the environment


def test_a_config_given_in_the_environment_is_read(bare_env, monkeypatch):
    monkeypatch.setenv(ENV_CONFIG, '{"max_uses": 3}')
    assert LeanConfig.from_env() == LeanConfig(max_uses=3)
    monkeypatch.setenv(ENV_CONFIG, "{not json")
    with pytest.raises(ConfigError, match="PROOFLOOP_LEAN_CONFIG is not a JSON object"):
        LeanConfig.from_env()


def test_prompt_extract_canonical():
    prover = LeanProver(LeanConfig())
    problem = prover.from_text("import Mathlib\ntheorem t : 1 + 1 = 2 :=", id="t")
    prompt = prover.prompt(problem)
    assert prompt.endswith("```lean4\nimport Mathlib\ntheorem t : 1 + 1 = 2 :=")
    assert prover.extract(" by\n  norm_num\n```\nThe proof uses norm_num.") == "by\n  norm_num"
    assert (
        prover.extract("```lean4\ntheorem t : 1 + 1 = 2 := by norm_num\n```") == "theorem t : 1 + 1 = 2 := by norm_num"
    )
    assert prover.canonical(":= by\n  norm_num -- done\n") == prover.canonical("  by\n  norm_num -- done")
    assert prover.canonical("by norm_num") != prover.canonical("by simp")
    # Layout is part of the key: Lean may judge these two differently.
    assert prover.canonical("by\n  norm_num") != prover.canonical("by norm_num")
    # The training target continues the prompt after `:=` and closes the block where extract stops.
    completion = prover.target(prompt, "by\n  norm_num")
    assert completion == " by\n  norm_num\n```"
    assert prover.extract(completion + "\nmore text", prompt) == "by\n  norm_num"


LADDER_FILE = """-- family: refl
-- level: 2
-- split: heldout
-- reference: Eq.refl a
prelude
inductive Eq {α : Sort u} : α → α → Prop
  | refl (a : α) : Eq a a
theorem refl_0001 (α : Sort u) (a : α) : Eq a a := sorry
"""


def test_lean_files_carry_family_level_split_and_a_reference_the_model_never_sees(tmp_path):
    from proofloop.audit import audit
    from proofloop.types import Rung

    (tmp_path / "a.lean").write_text(LADDER_FILE)
    # The same theorem under another name, laid out otherwise, with a comment: the audit's overlap.
    (tmp_path / "b.lean").write_text(
        LADDER_FILE.replace("-- split: heldout\n-- reference: Eq.refl a\n", "").replace("refl_0001", "refl_0002")
        .replace("(a : α) : Eq a a", "(a : α) : /- same -/\n    Eq a a")
    )
    prover = LeanProver(LeanConfig())
    held, train = prover.load(tmp_path)
    assert (held.id, held.split, held.reference, prover.rung(held)) == ("refl_0001", "heldout", "Eq.refl a", Rung("refl", 2))
    assert (train.split, train.reference, prover.rung(train)) == ("train", None, Rung("refl", 2))
    assert "reference" not in held.text and "Eq.refl a" not in prover.prompt(held)
    assert prover.prompt(held).startswith("Complete the following Lean 4 code:\n\n```lean4\nprelude\n")
    assert prover.rung(prover.from_text(held.text, id="x")) == Rung("refl", 2)  # the text keeps its rung
    assert prover.rung(prover.from_text(PROBLEM, id="t")) is None
    assert audit(prover, [held, train]).overlaps == (("refl_0001", "refl_0002"),)
    (tmp_path / "a.lean").write_text(LADDER_FILE.replace("split: heldout", "split: test"))
    with pytest.raises(ProblemFormatError, match="split"):
        prover.load(tmp_path)


# -- LeanDojo import, over TEST DOUBLES of lean-dojo's traced objects --------------------------


@dataclass(frozen=True)
class Pos:
    line_nb: int
    column_nb: int


class FakeLeanFile:
    """TEST DOUBLE of lean_dojo.LeanFile: slicing by (line, column) positions, 1-based."""

    def __init__(self, text: str):
        self.lines = text.split("\n")

    def _offset(self, pos: Pos | None) -> int:
        if pos is None:
            return 0
        return sum(len(line) + 1 for line in self.lines[: pos.line_nb - 1]) + pos.column_nb - 1

    def __getitem__(self, key: slice) -> str:
        return "\n".join(self.lines)[self._offset(key.start) : self._offset(key.stop)]


@dataclass
class FakeTheorem:
    """TEST DOUBLE of lean_dojo.TracedTheorem (the attributes the import reads)."""

    repo: str
    full_name: str
    start: Pos
    proof: tuple[Pos, Pos]
    traced_file: object
    file_path: str = "Example/Basic.lean"

    @property
    def theorem(self):
        return self

    def locate_proof(self):
        return self.proof


def test_leandojo_theorems_become_problems_with_reference_proofs():
    src = (
        "import Mathlib\n\nnamespace Ex\n\n"
        "theorem add_zero' (n : Nat) : n + 0 = n := by\n  simp\n\n"
        "theorem eq (n : Nat) : n = n\n  | _ => rfl\nend Ex\n"
    )
    lf = FakeLeanFile(src)
    traced_file = type("TracedFile", (), {"lean_file": lf})()
    repo = type("Repo", (), {"url": "https://example.org/ex", "commit": "abc"})()
    theorems = [
        FakeTheorem(repo, "Ex.add_zero'", Pos(5, 1), (Pos(5, 44), Pos(6, 7)), traced_file),
        FakeTheorem(repo, "Ex.eq", Pos(8, 1), (Pos(9, 3), Pos(9, 13)), traced_file),
        FakeTheorem("a dependency", "Dep.x", Pos(1, 1), (Pos(1, 1), Pos(1, 1)), traced_file),
    ]
    traced = type("TracedRepo", (), {"get_traced_theorems": lambda self: theorems})()
    report = theorems_to_problems(traced, repo, LeanProver(LeanConfig()), split="heldout")
    (problem,) = report.problems
    assert problem.id == "Ex.add_zero'" and problem.split == "heldout"
    assert problem.reference == "by\n  simp"
    assert problem.text == "import Mathlib\n\nnamespace Ex\n\ntheorem add_zero' (n : Nat) : n + 0 = n :="
    assert problem.meta["full_name"] == "Ex.add_zero'" and problem.meta["line"] == 5
    assert problem.source == "https://example.org/ex@abc:Example/Basic.lean:5"
    assert dict(report.skipped) == {"proof is not `:= ...` (equations or `where`)": 1}


def test_lean4checker_replay_control_flow(tmp_path):
    """With TEST DOUBLES of `lean` (compiles, prints the axioms) and `lean4checker`."""
    from provers.lean.checker import replay_with_lean4checker
    from provers.lean.source import parse_problem_text
    from provers.lean.toolchain import Toolchain

    task = parse_problem_text("theorem t : True :=")
    lean = script(tmp_path / "lean", "echo \"$3:4:0: 't' depends on axioms: [$AXIOMS]\"\n")
    checker = script(tmp_path / "lean4checker", 'echo "checked $1"; exit "$CHECKER_EXIT"\n')

    def replay(axioms: str, checker_exit: str):
        env = {**os.environ, "AXIOMS": axioms, "CHECKER_EXIT": checker_exit}
        tc = Toolchain(repl=lean, lean=lean, lean_version="4.9.0", env=env, lean4checker=checker)
        return replay_with_lean4checker(tc, task, "trivial", 10.0)

    assert replay("propext", "0").status is Status.VERIFIED
    tainted = replay("propext, sorryAx", "0")
    assert (tainted.status, tainted.reason) == (Status.REJECTED, "lean4checker")
    failed = replay("propext", "1")
    assert (failed.status, failed.reason) == (Status.REJECTED, "lean4checker")
    assert "checked ProofloopReplay" in failed.message
