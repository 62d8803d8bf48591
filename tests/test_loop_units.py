"""The loop's small pure steps: pass/diversity/coverage metrics, seeds, summary lines (the gate: test_guards.py)."""

from __future__ import annotations

import pytest

from proofloop.commands.run import summary_lines
from proofloop.evaluate import coverage_metrics, diversity_metrics, pass_metrics
from proofloop.loop import derive_seed, retry_prompt


def attempt(pid, status, candidate="(+ x 1)", chash="h", num_tokens=4, logprob=-2.0):
    return {"problem_id": pid, "status": status, "candidate": candidate, "completion": candidate,
            "canonical_hash": chash, "num_tokens": num_tokens, "logprob": logprob}


def test_pass_metrics_use_the_unbiased_estimator_per_problem():
    attempts = [attempt("a", "verified"), attempt("a", "rejected"), attempt("a", "rejected"), attempt("a", "unknown")]
    attempts += [attempt("b", "rejected")] * 4
    m = pass_metrics(attempts, 2, "heldout")
    assert m["heldout_pass@1"] == pytest.approx((1 / 4 + 0) / 2)
    assert m["heldout_pass@2"] == pytest.approx((1 - (3 * 2) / (4 * 3)) / 2)
    assert m["heldout_solved"] == 0.5
    assert m["heldout_solved_count"] == 1.0
    assert 0.0 <= m["heldout_pass@2_lo"] <= m["heldout_pass@2"] <= m["heldout_pass@2_hi"] <= 0.5
    assert pass_metrics([], 2, "heldout") == {
        "heldout_pass@1": 0.0, "heldout_pass@2": 0.0, "heldout_pass@2_lo": 0.0, "heldout_pass@2_hi": 0.0,
        "heldout_solved": 0.0, "heldout_solved_count": 0.0,
    }


def test_diversity_metrics():
    attempts = [
        attempt("a", "verified", "(+ x 1)", "h1", 4, -2.0),
        attempt("a", "verified", "(+ x 1)", "h1", 4, -2.0),
        attempt("a", "verified", "(+ 1 x)", "h2", 4, -4.0),
        attempt("b", "rejected", "(- x 1)", "h3", 0, 0.0),
    ]
    m = diversity_metrics(attempts)
    assert m["unique_per_solved"] == 2.0
    assert m["entropy"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert 0 < m["distinct_2"] < 1


def test_seeds_are_stable_and_distinct():
    assert derive_seed(0, 1, "train", "p") == derive_seed(0, 1, "train", "p")
    assert len({derive_seed(0, r, "train", "p") for r in range(50)}) == 50
    assert 0 <= derive_seed("anything") < 2**31


def test_retry_prompt_keeps_the_original_prompt_last():
    p = retry_prompt("(synth-fun f)\n", "(define-fun f () Int 0)", '{"x": 1}')
    assert p.endswith("(synth-fun f)\n") and "(define-fun f () Int 0)" in p and '{"x": 1}' in p


def test_summary_lines_are_greppable():
    metrics = {"solved_train": 5.0, "heldout_pass@1": 0.25, "heldout_pass@8": 0.5, "forgetting": 0.0,
               "samples_per_s": 12.5, "checks_per_s": 30.0, "train_tokens_per_s": 900.0}
    lines = summary_lines(2, metrics, False, "worse", k=8)
    assert lines[0] == "round: 2"
    for line in ("solved_train: 5", "heldout_pass@1: 0.2500", "heldout_pass@8: 0.5000", "forgetting: 0.0000",
                 "samples_per_s: 12.5000", "checks_per_s: 30.0000", "train_tokens_per_s: 900.0000", "kept: no",
                 "gate: worse"):
        assert line in lines


# -- counterexample retries, with the real prover and store and a scripted policy ------------------


class ScriptedPolicy:
    """A generator that answers every train prompt wrongly and every retry prompt with the reference."""

    name = "scripted"

    def __init__(self, references: dict[str, str]):
        self.references = references  # original prompt -> reference solution
        self.retry_prompts: list[str] = []

    def generate(self, prompts, n, params):
        from proofloop.generate.base import Completion

        out = []
        for prompt in prompts:
            original = next(p for p in self.references if prompt.endswith(p))
            if prompt == original:
                text = self.references[original].rsplit(" Int ", 1)[0] + " Int 1)"  # f = 1: in the grammar, wrong
            else:
                self.retry_prompts.append(prompt)
                text = self.references[original]
            out.append([Completion(text, 5, -1.0)] * n)
        return out


def scripted_run(tmp_path):
    import json

    from loop_fixtures import write_problems
    from proofloop import loop
    from proofloop.config import load_config

    problems = write_problems(tmp_path / "problems")
    cfg = load_config(None, [f"problems.path={json.dumps(str(problems))}", f"run.out_dir={json.dumps(str(tmp_path))}",
                             "run.name=retry", "generator.model=unused", "checker.workers=1",
                             "sampling.retry_with_counterexample=true", "sampling.n=2", "problems.allow_overlap=true"])
    return loop.create_run(cfg, _NoUI())


def test_counterexample_retry_feeds_the_checker_evidence_back(tmp_path, monkeypatch):
    import json

    from proofloop import executors, loop

    checked: list[int] = []
    real = executors.CheckPool.check_batch

    def counting(pool, items, *args):
        checked.append(len(items))
        return real(pool, items, *args)

    monkeypatch.setattr(executors.CheckPool, "check_batch", counting)
    ctx = scripted_run(tmp_path)
    try:
        policy = loop.Policy("round-0", "scripted")
        spy = ScriptedPolicy({ctx.prompts[pid]: ctx.problems[pid].reference for pid in ctx.train_ids})
        ctx._generators[policy.label] = spy
        loop.sample(ctx, 1, "train", policy, ctx.train_ids, 2, 1.0)
        assert loop.check(ctx, 1, "train") == len(ctx.train_ids)  # two identical samples each: one check
        assert checked == [len(ctx.train_ids)] and loop.check(ctx, 1, "train") == 0
        train = ctx.store.attempts(1, "train", ctx.checker, ctx.checker_version)
        assert {a["status"] for a in train} == {"rejected"} and all(a["counterexample"] for a in train)
        assert loop.retry_with_counterexamples(ctx, 1, policy) == 2 * len(ctx.train_ids)
        assert len(spy.retry_prompts) == len(ctx.train_ids)
        by_id = {a["id"]: a for a in train}
        for prompt in spy.retry_prompts:
            failed = next(a for a in train if prompt.endswith(ctx.prompts[a["problem_id"]]))
            assert failed["candidate"] in prompt and failed["counterexample"] in prompt
        loop.check(ctx, 1, "retry")
        retried = ctx.store.attempts(1, "retry", ctx.checker, ctx.checker_version)
        assert {a["status"] for a in retried} == {"verified"}
        for a in retried:
            source = by_id[json.loads(a["params"])["retry_of"]]
            assert source["problem_id"] == a["problem_id"] and source["status"] == "rejected"
        loop.select(ctx, 1)
        assert {r.problem_id for r in ctx.store.dataset_rows() if r.origin == "verified"} == set(ctx.train_ids)
    finally:
        ctx.store.close()


def test_a_checker_that_raises_stops_the_run_with_checker_crash(tmp_path, monkeypatch):
    from proofloop import executors, loop
    from proofloop.errors import CheckerCrash

    def broken(*args, **kwargs):
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(executors.CheckPool, "check_batch", broken)
    ctx = scripted_run(tmp_path)
    try:
        with pytest.raises(CheckerCrash) as e:
            loop.check_candidates(ctx, [(ctx.train_ids[0], "(define-fun f ((x Int)) Int ())")])
        assert str(e.value).startswith(
            "the z3 checker failed on a batch of 1 candidates: IndexError: tuple index out of range"
        )
        assert e.value.exit_code == 4
    finally:
        ctx.store.close()


class _NoUI:
    from contextlib import contextmanager

    @contextmanager
    def progress(self, label, total):
        yield lambda *a, **k: None

    def round_summary(self, *a, **k):
        pass


def test_coverage_curve_is_the_unbiased_pass_at_k_at_powers_of_two():
    # p1: 1 of 4 samples verified, p2: none; p3 has too few samples for the curve and is left out.
    rows = [attempt("p1", "verified" if i == 0 else "rejected") for i in range(4)]
    rows += [attempt("p2", "rejected") for _ in range(4)] + [attempt("p3", "verified")]
    curve = coverage_metrics(rows, 4)
    assert list(curve) == ["coverage_pass@1", "coverage_pass@2", "coverage_pass@4"]
    assert curve["coverage_pass@1"] == pytest.approx(0.125)  # (1/4 + 0) / 2
    assert curve["coverage_pass@2"] == pytest.approx(0.25)  # p1: 1 - C(3,2)/C(4,2) = 1/2
    assert curve["coverage_pass@4"] == pytest.approx(0.5)
    assert coverage_metrics([attempt("p3", "verified")], 4) == {}
