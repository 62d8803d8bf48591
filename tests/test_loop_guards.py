"""Guards of the loop that a tiny end-to-end run does not exercise on its own: a checker that
reports the wrong version, held-out references kept from the base model, `train.from`, and the
seeded choice of `problems.train_limit`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from loop_fixtures import write_problems
from proofloop import loop
from proofloop.config import load_config
from proofloop.errors import CheckerCrash
from proofloop.prover import get_prover
from proofloop.store import DatasetRow
from proofloop.types import Status, Verdict


class QuietUI:
    @contextlib.contextmanager
    def progress(self, label, total=None):
        yield lambda *args, **kwargs: None


@pytest.fixture(scope="module")
def problems(tmp_path_factory) -> Path:
    return write_problems(tmp_path_factory.mktemp("problems"))


def context(problems: Path, tmp_path: Path, *overrides: str) -> SimpleNamespace:
    """What the steps under test read of a RunContext, built from a real config and prover."""
    cfg = load_config(None, [f'problems.path="{problems}"', *overrides])
    prover = get_prover("z3")
    loaded = {p.id: p for p in loop.load_run_problems(cfg, prover)}
    return SimpleNamespace(
        cfg=cfg, prover=prover, problems=loaded, prompts={pid: prover.prompt(p) for pid, p in loaded.items()},
        run_dir=tmp_path, base_model=str(tmp_path / "base_model"), ui=QuietUI(), checker="z3",
        checker_version=prover.version(), workers=1, limits=None,
    )


def test_a_checker_reporting_another_version_stops_the_run(problems, tmp_path, monkeypatch):
    ctx = context(problems, tmp_path)
    stale = Verdict(Status.VERIFIED, "z3", "4.0.0-not-this-one")
    ctx.checks = SimpleNamespace(check_batch=lambda *a, **k: [stale])
    with pytest.raises(CheckerCrash, match="reported itself as z3 4.0.0-not-this-one, expected z3 .*unsound"):
        loop.check_candidates(ctx, [("inc", "(define-fun f ((x Int)) Int (+ x 1))")])
    right = Verdict(Status.VERIFIED, "z3", ctx.checker_version)
    ctx.checks = SimpleNamespace(check_batch=lambda *a, **k: [right])
    assert loop.check_candidates(ctx, [("inc", "(define-fun f ((x Int)) Int (+ x 1))")]) == [right]


TRIPLE = """;; split: heldout
;; reference: (define-fun g ((a Int)) Int (+ a (+ a a)))
(set-logic LIA)
(synth-fun g ((a Int)) Int ((Start Int (a 1 (+ Start Start)))))
(declare-var a Int)
(constraint (= (g a) (* 3 a)))
(check-synth)
"""


def test_heldout_references_stay_out_of_the_base_models_corpus(problems, tmp_path, monkeypatch):
    mine = write_problems(tmp_path / "problems")
    (mine / "triple.sl").write_text(TRIPLE)  # a held-out answer that no train answer spells
    ctx = context(mine, tmp_path, "train.base_pretrain_steps=0")
    seen: list[list[str]] = []

    def init_model(out, corpus, size, seed):
        seen.append(corpus)
        Path(out).mkdir(parents=True)
        (Path(out) / "config.json").write_text("{}")

    monkeypatch.setattr("proofloop.tinymodel.init_model", init_model)
    assert loop.ensure_base_model(ctx) == str(tmp_path / "base_model")
    (corpus,) = seen
    assert all(ctx.prompts[pid] in corpus for pid in ctx.problems)  # every statement, held-out ones too
    for pid, problem in ctx.problems.items():
        if problem.split == "train":
            assert ctx.prover.target(ctx.prompts[pid], problem.reference) in corpus, pid
    held_out_answer = ctx.prover.target(ctx.prompts["triple"], ctx.problems["triple"].reference)
    assert held_out_answer == "(+ x (+ x x)))"
    assert not any(held_out_answer in text for text in corpus)


@pytest.mark.parametrize("start_from, expected", [("base", "base_model"), ("continue", "checkpoints/round-0")])
def test_train_from_base_or_continuing_the_policy(problems, tmp_path, monkeypatch, start_from, expected):
    ctx = context(problems, tmp_path, f'train.from="{start_from}"')
    started: list[str] = []

    def train_sft(start, examples, out, settings, progress):
        started.append(str(start))
        assert examples == [(ctx.prompts["inc"], "(+ x 1))")]
        return "result"

    monkeypatch.setattr(loop, "train_sft", train_sft)
    rows = [DatasetRow(problem_id="inc", candidate="(define-fun f ((x Int)) Int (+ x 1))", canonical_hash="h",
                       origin="verified", round=0)]
    policy = loop.Policy("round-0", str(tmp_path / "checkpoints" / "round-0"))
    out, result = loop.train(ctx, 1, policy, rows)
    assert (out, result) == (tmp_path / "checkpoints" / "round-1", "result")
    assert started == [str(tmp_path / expected)]
    # Round 0's policy is the grammar (no model): continuing then starts from the base model too.
    started.clear()
    loop.train(ctx, 0, loop.Policy("grammar", None), rows)
    assert started == [str(tmp_path / "base_model")]


def test_train_limit_is_a_seeded_stable_choice(problems, tmp_path):
    def chosen(seed: int, limit: int) -> list[str]:
        cfg = load_config(None, [f'problems.path="{problems}"', f"run.seed={seed}", f"problems.train_limit={limit}"])
        return [p.id for p in loop.load_run_problems(cfg, get_prover("z3")) if p.split == "train"]

    everything = chosen(0, 99)
    assert len(everything) == 4
    picks = {seed: chosen(seed, 2) for seed in range(12)}
    assert all(len(ids) == 2 and set(ids) <= set(everything) and ids == sorted(ids) for ids in picks.values())
    assert picks[3] == chosen(3, 2)  # the same seed chooses the same problems
    assert len({tuple(ids) for ids in picks.values()}) > 1  # other seeds choose others
    # A larger limit keeps what a smaller one chose (ranked by seed and id, not by position).
    assert all(set(chosen(seed, 2)) <= set(chosen(seed, 3)) for seed in range(4))
    held = [p for p in loop.load_run_problems(load_config(None, [f'problems.path="{problems}"', "problems.train_limit=1"]),
                                              get_prover("z3")) if p.split == "heldout"]
    assert len(held) == 2  # the train limit leaves the held-out problems alone


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], {0: {"verified", "reference"}, 1: {"verified", "reference"}, 2: {"verified", "reference"}}),
    (["select.own_rows=false"], {0: {"reference"}, 1: {"reference"}, 2: {"reference"}}),
    (["select.reference_rounds=0"], {0: {"verified", "reference"}, 1: {"verified"}, 2: {"verified"}}),
    (["select.reference_rounds=1", "select.seed_unlock=false"], {0: {"verified", "reference"}, 1: {"verified"}, 2: {"verified"}}),
])
def test_the_ablation_switches_choose_what_enters_the_dataset(problems, tmp_path, monkeypatch, overrides, expected):
    ctx = context(problems, tmp_path, *overrides)
    added: dict[int, set[str]] = {}

    def row(r, origin):
        return DatasetRow(problem_id="inc", candidate=f"{origin}{r}", canonical_hash=f"{origin}{r}", origin=origin, round=r)

    ctx.store = SimpleNamespace(
        attempts=lambda *a, **k: [], verified_counts=lambda *a, **k: {}, dataset_rows=lambda **k: [],
        set_training_rows=lambda *a: None,
        add_dataset_rows=lambda rows: added.setdefault(rows[0].round if rows else -1, set()).update(x.origin for x in rows),
    )
    monkeypatch.setattr(loop, "verified_rows", lambda attempts, r: [row(r, "verified")])
    monkeypatch.setattr(loop, "reference_rows", lambda ctx, r: [row(r, "reference")])
    for r in range(3):
        loop.select(ctx, r)
    assert {r: added.get(r, set()) for r in range(3)} == expected
