"""The gate's named guards, each on hand-built round views, and their registry in the config."""

from __future__ import annotations

import pytest

from proofloop.config import LoopSection, load_config
from proofloop.errors import ConfigError
from proofloop.guards import GUARDS, RoundView, collapse, forgetting, heldout_drop, run_guards


def _view(r=2, metrics=None, history=None, per_problem=None, kept_before=(0, 1), **loop):
    history = history or {}
    per_problem = per_problem or {}
    return RoundView(
        round=r, k=8, metrics=metrics or {}, kept_before=list(kept_before),
        metrics_of=lambda q: history.get(q, {}), per_problem=lambda q: per_problem.get(q, {}),
        settings=LoopSection(**loop),
    )


def _metrics(p1, p8, uniq, ent, forget=0.0):
    return {"heldout_pass@1": p1, "heldout_pass@8": p8, "unique_per_solved": uniq, "entropy": ent, "forgetting": forget}


def test_forgetting_discards_above_the_threshold_only():
    assert forgetting(_view(metrics={"forgetting": 0.2}, forgetting_threshold=0.1)).keep is False
    assert forgetting(_view(metrics={"forgetting": 0.1}, forgetting_threshold=0.1)).keep is True


def test_heldout_drop_discards_a_significant_drop_and_keeps_noise():
    problems = [f"p{i}" for i in range(40)]
    best = {p: 1.0 for p in problems}
    worse = {p: 0.0 if i < 20 else 1.0 for i, p in enumerate(problems)}
    noisy = {p: 0.0 if i < 1 else 1.0 for i, p in enumerate(problems)}
    history = {1: {"heldout_pass@8": 1.0}}
    dropped = heldout_drop(_view(metrics={"heldout_pass@8": 0.5}, history=history, per_problem={2: worse, 1: best}, kept_before=(1,)))
    assert dropped.keep is False and "significantly below" in dropped.reason
    kept = heldout_drop(_view(metrics={"heldout_pass@8": 0.975}, history=history, per_problem={2: noisy, 1: best}, kept_before=(1,)))
    assert kept.keep is True
    assert heldout_drop(_view(kept_before=())).reason == "first model"


def test_collapse_needs_two_of_three_diversity_measures_to_fall():
    history = {1: _metrics(0.1, 0.4, 3.0, 0.2)}
    narrowed = collapse(_view(metrics=_metrics(0.3, 0.33, 1.0, 0.2), history=history, collapse_ratio=0.5))
    assert narrowed.keep is False and "pass@8/pass@1 1.10 vs 4.00" in narrowed.reason
    one_fell = collapse(_view(metrics=_metrics(0.3, 0.33, 3.0, 0.2), history=history, collapse_ratio=0.5))
    assert one_fell.keep is True
    assert collapse(_view(kept_before=(), metrics=_metrics(0.3, 0.3, 1.0, 0.0))).keep is True


def test_every_guard_decides_and_the_first_discarding_one_gives_the_reason():
    history = {1: _metrics(0.1, 0.4, 3.0, 0.2)}
    view = _view(metrics=_metrics(0.3, 0.33, 1.0, 0.05, forget=0.5), history=history, kept_before=(1,),
                 per_problem={2: {"a": 1.0}, 1: {"a": 1.0}}, forgetting_threshold=0.1)
    kept, reason, decisions = run_guards(["heldout_drop", "forgetting", "collapse"], view)
    assert kept is False and reason.startswith("forgetting 0.500")
    assert [d.keep for d in decisions.values()] == [True, False, False]
    assert run_guards([], view)[:2] == (True, "no guards")


def test_guards_are_named_in_the_config_and_unknown_names_are_one_line_errors():
    assert set(load_config(None, []).loop.guards) <= set(GUARDS)
    cfg = load_config(None, ['loop.guards=["forgetting"]'])
    assert cfg.loop.guards == ["forgetting"]
    with pytest.raises(ConfigError, match="loop.guards: unknown guard 'vibes'; known: forgetting, heldout_drop, collapse"):
        load_config(None, ['loop.guards=["forgetting", "vibes"]'])
