"""The generator of the procedural SyGuS family (problems/generate.py) and its bundled output."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "problems" / "generate.py"
GEN_DIR = REPO / "problems" / "sygus" / "gen"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("problems_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=REPO
    )


def comments(text: str) -> dict[str, str]:
    return dict(re.findall(r"^;; (\w+): (.*)$", text, flags=re.M))


def test_bundled_files_are_what_the_default_command_writes(tmp_path):
    import shutil

    # The hand-written problems beside the output directory take part: none of their normal forms is drawn.
    for sibling in ("lia", "inv"):
        shutil.copytree(GEN_DIR.parent / sibling, tmp_path / "sygus" / sibling)
    result = run_script("--out", str(tmp_path / "sygus" / "gen"), "--count", "2400", "--seed", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["problems: 1786", "train: 1663", "heldout: 123"]
    written = {p.name: p.read_bytes() for p in (tmp_path / "sygus" / "gen").glob("*.sl")}
    bundled = {p.name: p.read_bytes() for p in GEN_DIR.glob("*.sl")}
    assert written.keys() == bundled.keys()
    assert [name for name in written if written[name] != bundled[name]] == []


def test_bundled_files_follow_the_conventions(gen):
    files = sorted(GEN_DIR.glob("*.sl"))
    assert len(files) == 1786
    families, splits, prompts = Counter(), Counter(), set()
    levels: Counter = Counter()
    for path in files:
        text = path.read_text()
        meta = comments(text)
        assert meta["split"] in ("train", "heldout"), path
        assert 1 <= int(meta["level"]) <= 5, path
        assert path.stem.startswith(meta["family"] + "_"), path
        assert meta["reference"].startswith("(define-fun ") and len(meta["reference"]) <= 120, path
        prompt = "".join(line + "\n" for line in text.splitlines() if not line.startswith(";"))
        assert len(prompt) <= 400, path
        prompts.add(prompt)
        families[meta["family"]] += 1
        levels[meta["family"], meta["level"]] += 1
        splits[meta["family"], meta["level"], meta["split"]] += 1
    assert len(prompts) == len(files)  # no problem appears twice, so none is in both splits
    assert set(families) == set(gen.FAMILIES)
    for (family, level), n in levels.items():  # one in HELDOUT_EVERY of each (family, level): 1, 17, 33, ...
        assert splits[family, level, "heldout"] == (n + gen.HELDOUT_EVERY - 2) // gen.HELDOUT_EVERY, (family, level)
    assert {int(level) for _, level in levels} == {1, 2, 3, 4, 5}


def test_generation_is_deterministic_seeded_and_distinct_by_normal_form(gen):
    first = [(stem, spec.problem(), split) for stem, spec, split in gen.generate(60, 5)]
    again = [(stem, spec.problem(), split) for stem, spec, split in gen.generate(60, 5)]
    other = [(stem, spec.problem(), split) for stem, spec, split in gen.generate(60, 6)]
    assert first == again
    assert first != other
    assert len(first) == 60
    assert len({gen.spec_form(spec) for _, spec, _ in gen.generate(60, 5)}) == 60
    assert "heldout" in {split for *_, split in first}
    taken = {gen.spec_form(spec) for _, spec, _ in gen.generate(60, 5)}
    assert taken.isdisjoint(gen.spec_form(spec) for _, spec, _ in gen.generate(60, 5, taken))


@pytest.mark.parametrize("count", [9, 10, 17, 100, 299, 300, 301, 1000])
def test_family_counts_add_up(gen, count):
    counts = gen.family_counts(count)
    assert sum(counts.values()) == count
    assert min(counts.values()) >= 1
    if count == 300:
        assert counts == {name: weight for name, (_, weight) in gen.FAMILIES.items()}


def test_every_family_yields_verified_problems(gen):
    import random

    for family, (make, _) in gen.FAMILIES.items():
        rng = random.Random(family)
        for _ in range(5):
            spec = make(rng)
            assert spec.family == family and 1 <= spec.difficulty <= 5
            assert gen.solves(spec, spec.body), spec.reference
            wrong = f"(not {spec.body})" if spec.sort == "Bool" else f"(+ {spec.body} 1)"
            assert not gen.solves(spec, wrong), spec.reference


def test_acceptable_refuses_trivial_and_wrong_references(gen):
    loose = gen.Spec("linear", 1, "f", ("x",), "Int", ("(>= (f x) (- 3))",), "(ite (>= x 0) x 0)")
    assert gen.solves(loose, loose.body)
    assert not gen.acceptable(loose)  # the constant 0 solves it too
    tight = gen.Spec("linear", 1, "f", ("x",), "Int", ("(= (f x) (+ x 1))",), "(+ x 1)")
    assert gen.acceptable(tight)
    wrong = gen.Spec("linear", 1, "f", ("x",), "Int", ("(= (f x) (+ x 1))",), "(+ x 2)")
    with pytest.raises(AssertionError, match="reference does not solve its own problem"):
        gen.acceptable(wrong)


def test_rendering_helpers(gen):
    assert gen.num(-4) == "(- 4)" and gen.num(0) == "0"
    assert gen.linear([1, -1, 2, -3], ["a", "b", "c", "d"], -2) == "(+ a (- b) (* 2 c) (* (- 3) d) (- 2))"
    assert gen.linear([0], ["x"], 0) == "0"
    assert gen.ite_chain(["(< x 1)", "(< x 5)"], ["0", "x", "9"]) == "(ite (< x 1) 0 (ite (< x 5) x 9))"


def test_rerun_replaces_generated_files_and_refuses_foreign_ones(gen, tmp_path):
    assert run_script("--out", str(tmp_path), "--count", "16", "--seed", "1").returncode == 0
    assert len(list(tmp_path.glob("*.sl"))) == 16
    assert run_script("--out", str(tmp_path), "--count", "9", "--seed", "1").returncode == 0
    assert len(list(tmp_path.glob("*.sl"))) == 9
    (tmp_path / "mine.sl").write_text("(set-logic LIA)\n")
    result = run_script("--out", str(tmp_path), "--count", "9", "--seed", "1")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'mine.sl'}: not written by this script; refusing to mix it with generated files"
    assert (tmp_path / "mine.sl").exists() and len(list(tmp_path.glob("*.sl"))) == 10
    result = run_script("--out", str(tmp_path), "--count", "3")
    assert result.returncode == 2 and f"--count must be at least {len(gen.FAMILIES)}" in result.stderr
