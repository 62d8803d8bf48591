"""The problems a run loads: include globs, unreadable files, and the seeded group split."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from proofloop.audit import audit
from proofloop.config import load_config
from proofloop.errors import ConfigError, ProblemFormatError
from proofloop.loop import configured_prover, load_run_problems
from proofloop.problemset import group_key, held_out, load_run_problem_set, seeded_split
from proofloop.prover import get_prover
from proofloop.types import Problem

REPO = Path(__file__).resolve().parents[1]
PUBLIC = REPO / "configs" / "sygus-public.toml"
PUBLIC_FOLDERS = {"CLIA_Track/from_2018": 88, "Inv_Track/from_2018": 127, "Inv_Track/xujie_code2inv": 276}


def sygus(k: int, var: str = "x") -> str:
    """A problem whose normal form is set by k (f(x) = x + k); `var` renames the variable only."""
    return (f"(set-logic LIA)\n(synth-fun f (({var} Int)) Int)\n(declare-var {var} Int)\n"
            f"(constraint (= (f {var}) (+ {var} {k})))\n(check-synth)\n")


def variants(groups: int, folder: str = "code2inv") -> list[Problem]:
    """Code2Inv-style problems: N.c, N_conf1 and N_conf5 of each program N, all distinct."""
    prover = get_prover("z3")
    return [
        prover.from_text(sygus(3 * n + i), id=f"{folder}/{n}{suffix}")
        for n in range(groups) for i, suffix in enumerate((".c", "_conf1", "_conf5"))
    ]


def splits(problems: list[Problem]) -> dict[str, str]:
    return {p.id: p.split for p in problems}


def test_group_key_drops_the_code2inv_variant_suffix_within_the_folder():
    assert {group_key(f"Inv/code2inv/100{s}") for s in (".c", "_conf1", "_conf5")} == {"Inv/code2inv/100"}
    assert group_key("Inv/from_2018/fib_05_x") == "Inv/from_2018/fib_05_x"
    assert group_key("max2") == "max2" and group_key("a/1.c") != group_key("b/1.c")


@pytest.fixture(scope="module")
def programs() -> list[Problem]:
    return variants(300)


def test_seeded_split_keeps_groups_whole_and_is_stable(programs):
    prover = get_prover("z3")
    problems = programs[:180]
    first = seeded_split(problems, prover, 0.5, seed=7)
    assert splits(first) == splits(seeded_split(problems, prover, 0.5, seed=7))  # the same seed, the same split
    by_group = defaultdict(set)
    for p in first:
        by_group[group_key(p.id)].add(p.split)
    assert len(by_group) == 60 and all(len(s) == 1 for s in by_group.values())  # variants never straddle
    assert {"train", "heldout"} == {s for (s,) in by_group.values()}
    assert splits(first) != splits(seeded_split(problems, prover, 0.5, seed=8))  # another seed, another split
    # A group's side is a hash of the seed and the group, whatever else is loaded.
    assert splits(seeded_split(problems[:30], prover, 0.5, seed=7)) == {p.id: p.split for p in first[:30]}
    assert [p.text for p in first] == [p.text for p in problems]


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_seeded_split_roughly_respects_the_fraction(programs, fraction):
    held = sum(p.split == "heldout" for p in seeded_split(programs, get_prover("z3"), fraction, seed=0))
    assert abs(held / len(programs) - fraction) < 0.1


def test_groups_with_one_normal_form_are_joined():
    prover = get_prover("z3")
    # 7 in two folders, the variable renamed: the audit's normal form is the same.
    twins = [prover.from_text(sygus(7, "x"), id="a/seven"), prover.from_text(sygus(7, "y"), id="b/seven")]
    assert prover.normal_form(twins[0]) == prover.normal_form(twins[1])
    problems = twins + variants(10)
    on_their_own = [s for s in range(40) if held_out("a/seven", 0.5, s) != held_out("b/seven", 0.5, s)]
    assert on_their_own  # some seeds would put the twins on two sides if they were not joined
    for seed in on_their_own:
        result = seeded_split(problems, prover, 0.5, seed)
        assert result[0].split == result[1].split
        assert audit(prover, result).overlaps == ()


def write_tree(root: Path) -> Path:
    for folder, ks in {"a": (1, 2), "b": (3, 4), "b/deep": (5,), "c": (6,)}.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for k in ks:
            (root / folder / f"p{k}.sl").write_text(sygus(k))
    (root / "c" / "notes.txt").write_text("not a problem")
    return root


def run_problems(root: Path, *overrides: str) -> tuple[list[Problem], list[tuple[str, str]]]:
    cfg = load_config(None, [f"problems.path={str(root)!r}", "problems.split=\"seeded\"", *overrides])
    return load_run_problem_set(cfg, get_prover("z3"))


def test_include_takes_subfolders_and_globs(tmp_path):
    root = write_tree(tmp_path / "p")
    everything, _ = run_problems(root)
    assert sorted(p.id for p in everything) == ["a/p1", "a/p2", "b/deep/p5", "b/p3", "b/p4", "c/p6"]
    chosen, skipped = run_problems(root, 'problems.include=["b", "a/*1.sl"]')
    assert sorted(p.id for p in chosen) == ["a/p1", "b/deep/p5", "b/p3", "b/p4"] and skipped == []
    assert splits(chosen) == {pid: split for pid, split in splits(everything).items() if pid in splits(chosen)}
    with pytest.raises(ConfigError, match=r"^problems.include: 'c/\*.txt' matches no z3 problem files under "):
        run_problems(root, 'problems.include=["a", "c/*.txt"]')
    with pytest.raises(ConfigError, match=r"^problems.include: 'a\*\*': Invalid pattern"):
        run_problems(root, 'problems.include=["a**"]')
    with pytest.raises(ConfigError, match=r"^problems.include: needs problems.path to be a folder"):
        run_problems(root / "a" / "p1.sl", 'problems.include=["a"]')


def test_unreadable_files_stop_the_run_unless_skipped(tmp_path, caplog):
    root = write_tree(tmp_path / "p")
    (root / "a" / "broken.sl").write_text("(set-logic LIA)\n(synth-fun f ((x Int)) Int\n")
    (root / "a" / "vacuous.sl").write_text(
        "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(declare-var x Int)\n(constraint (=> false (= (f x) 1)))\n(check-synth)\n"
    )
    with pytest.raises(ProblemFormatError, match="broken.sl"):
        run_problems(root)
    with pytest.raises(ProblemFormatError, match="broken.sl"):
        run_problems(root, 'problems.include=["a"]')  # include alone does not skip
    with caplog.at_level(logging.WARNING, logger="proofloop.problemset"):
        cfg = load_config(None, [f"problems.path={str(root)!r}", 'problems.split="seeded"', "problems.skip_unreadable=true"])
        loaded = load_run_problems(cfg, get_prover("z3"))
    assert sorted(p.id for p in loaded) == ["a/p1", "a/p2", "b/deep/p5", "b/p3", "b/p4", "c/p6"]
    assert caplog.messages == [
        f"problems: skipped {root / 'a' / 'broken.sl'}: line 2: unbalanced '(': 1 left open",
        f"problems: skipped {root / 'a' / 'vacuous.sl'}: line 4: the constraints hold for every function (a vacuous "
        "problem): every candidate would verify",
        "problems: skipped 2 unreadable file(s) (problems.skip_unreadable)",
    ]


def test_a_split_with_one_side_empty_is_refused_with_a_hint(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "one.sl").write_text(sygus(1))
    with pytest.raises(ConfigError, match=r"has no (train|heldout) problems \(change problems.split_seed"):
        run_problems(tmp_path / "p")


def test_a_relative_path_is_resolved_from_the_current_directory(tmp_path, monkeypatch):
    write_tree(tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    assert len(run_problems(Path("p"))[0]) == 6
    with pytest.raises(ConfigError) as e:
        run_problems(Path("no/such/folder"))
    assert str(e.value) == (
        f"problems.path: no/such/folder: no such file or directory (a relative path is resolved from the "
        f"current directory, {tmp_path})"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["problems.split=random"], "config: problems.split: must be one of 'files' or 'seeded' (got 'random')"),
        (["problems.split=\"seeded\"", "problems.heldout_fraction=1.5"],
         "config: problems.heldout_fraction: must be < 1.0 (got 1.5)"),
        (["problems.split=\"seeded\"", "problems.heldout_fraction=0"],
         "config: problems.heldout_fraction: must be > 0.0 (got 0)"),
        (["problems.heldout_fraction=0.3"],
         'config: problems.heldout_fraction: only used with split = "seeded" (split is "files")'),
        (["problems.split_seed=4"], 'config: problems.split_seed: only used with split = "seeded" (split is "files")'),
        (["problems.include=[]"],
         "config: problems.include: must name at least one pattern (leave it unset for every file)"),
        (['problems.include=["../elsewhere"]'],
         "config: problems.include: '../elsewhere' must be a pattern below problems.path (not itself, no '..', "
         "not absolute)"),
        (['problems.include=["/abs"]'],
         "config: problems.include: '/abs' must be a pattern below problems.path (not itself, no '..', not absolute)"),
        (['problems.include=["."]'],
         "config: problems.include: '.' must be a pattern below problems.path (not itself, no '..', not absolute)"),
        (["problems.skip_unreadable=maybe"],
         "config: problems.skip_unreadable: input should be a valid boolean, unable to interpret input (got 'maybe')"),
    ],
)
def test_bad_split_values_give_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value) == message


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proofloop.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_audit_command_reads_a_run_config(tmp_path):
    root = write_tree(tmp_path / "p")
    config = tmp_path / "run.toml"
    config.write_text(f'[problems]\npath = "{root}"\nsplit = "seeded"\nsplit_seed = 1\ninclude = ["a", "b"]\n')
    cfg = load_config(config, [])
    expected = splits(load_run_problems(cfg, configured_prover(cfg)))
    result = cli("problems", "audit", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"train: {list(expected.values()).count('train')}", f"heldout: {list(expected.values()).count('heldout')}",
        "skipped_files: 0", "problems: 5",
    ]
    assert "heldout_train_overlaps: 0" in lines
    missing = cli("problems", "audit", "--config", str(config), "--set", 'problems.path="nowhere"')
    assert missing.returncode == 2 and missing.stderr.startswith("error: problems.path: nowhere: no such file")
    assert len(missing.stderr.strip().splitlines()) == 1
    both = cli("problems", "audit", str(root), "--config", str(config))
    assert both.returncode == 2 and both.stderr.strip() == (
        "error: problems audit: give a problem PATH or --config FILE (one of them)"
    )


@pytest.fixture(scope="module")
def public_split():
    """The shipped public config's problems, loaded from the repo root as `proofloop run` would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)  # the config's path is relative to the repo root
        cfg = load_config(PUBLIC, [])
        prover = configured_prover(cfg)
        return (prover, *load_run_problem_set(cfg, prover))


@pytest.mark.shared
def test_the_public_split_has_no_heldout_train_overlap(public_split):
    prover, problems, skipped = public_split
    assert skipped == []
    counts = defaultdict(lambda: defaultdict(int))
    for p in problems:
        counts[p.id.rsplit("/", 1)[0]][p.split] += 1
    assert {folder: sum(c.values()) for folder, c in counts.items()} == PUBLIC_FOLDERS
    assert all(c["train"] and c["heldout"] for c in counts.values())
    held = sum(p.split == "heldout" for p in problems) / len(problems)
    assert 0.35 < held < 0.65
    split_of = splits(problems)
    programs = [pid.removesuffix(".c") for pid in split_of if pid.endswith(".c")]
    assert len(programs) == 92  # no Code2Inv program on both sides
    assert all(split_of[f"{n}.c"] == split_of[f"{n}_conf1"] == split_of[f"{n}_conf5"] for n in programs)
    assert audit(prover, problems).overlaps == ()
    # Two Code2Inv programs share a normal form (110.c and 118.c): joined, they fall on one side.
    assert split_of["Inv_Track/xujie_code2inv/110.c"] == split_of["Inv_Track/xujie_code2inv/118.c"]
