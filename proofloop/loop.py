"""Expert iteration, one round at a time: sample -> check -> select -> train -> evaluate -> gate.

`run_round` is the whole round, read top to bottom; every step below it is small and
idempotent given the store's state, so a run killed at any moment resumes where it stopped:
samples already stored are not drawn again, verdicts already stored are not checked again, a
finished checkpoint is not trained again, and a round's metrics are written once, when the
round ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from proofloop.config import RunConfig, cpu_count, load_resumed_config, validate_config
from proofloop.errors import CheckerCrash, ProofloopError
from proofloop.executors import CheckPool, pool_from_config
from proofloop.generate import Generator, GeneratorConfig, SamplingParams, Scorer, make_generator
from proofloop.generate.base import Completion
from proofloop.evaluate import coverage_metrics, diversity_metrics, pass_metrics, problem_counts
from proofloop.metrics import forgetting_rate, nll_per_token, pass_at_k_by_problem
from proofloop.problemset import load_run_problems
from proofloop.prover import Prover, canonical_hash, checker_version, get_prover
from proofloop.recheck import Recheck, recheck_stale
from proofloop.select import probe_problems, seed_problems, stable_rank, training_set, verified_rows
from proofloop.store import AttemptRow, DatasetRow, Store
from proofloop.train import TrainResult, TrainSettings, load_result, pretrain_lm, train_sft
from proofloop.types import CheckLimits, Problem, Status, Verdict, sha256

log = logging.getLogger(__name__)

# Verdicts of one check batch are stored in one transaction; smaller batches lose less work
# to a kill, larger ones keep the process pool busier.
CHECK_BATCH = 128


@dataclass(frozen=True)
class Policy:
    """What samples a round: the grammar sampler (model None) or a model directory / id."""

    label: str
    model: str | None


@dataclass
class RunContext:
    """Everything a round needs: the config, the store, the prover and the problems."""

    cfg: RunConfig
    store: Store
    prover: Prover
    problems: dict[str, Problem]
    prompts: dict[str, str]
    train_ids: list[str]
    heldout_ids: list[str]
    base_model: str
    ui: Any  # proofloop.commands.run.RunUI or any object with progress() and round_summary()
    checker: str = ""
    checker_version: str = ""
    workers: int | None = None
    checks: CheckPool = field(default_factory=CheckPool)
    recheck: Recheck = field(default_factory=Recheck)
    _generators: dict[str, Generator] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.store.run_dir

    @property
    def limits(self) -> CheckLimits:
        checker = self.cfg.checker
        return CheckLimits(timeout_s=checker.timeout_s, memory_mb=checker.memory_mb, cross_check=checker.cross_check)

    @property
    def k(self) -> int:
        return self.cfg.sampling.k


def run_round(ctx: RunContext, r: int) -> dict[str, float]:
    """One round of expert iteration; returns the round's metrics (also written to the store)."""
    policy = current_policy(ctx, r)
    ctx.store.start_round(r, policy.label)
    with phase(ctx, r, "sample"):
        sample_train(ctx, r, policy)
    with phase(ctx, r, "check"):
        check(ctx, r, "train")
    # The grammar sampler cannot read feedback, so only a model policy retries.
    if ctx.cfg.sampling.retry_with_counterexample and policy.model is not None:
        with phase(ctx, r, "sample"):
            retry_with_counterexamples(ctx, r, policy)
        with phase(ctx, r, "check"):
            check(ctx, r, "retry")
    with phase(ctx, r, "select"):
        rows = select(ctx, r)
        if ctx.cfg.loop.conjectures:
            from proofloop.conjecture import extend_run

            extend_run(ctx, r)
    close_generators(ctx)  # sampler and trainer take the GPU in turns: the engine frees it first
    with phase(ctx, r, "train"):
        ctx.checks.close()  # the checker's worker processes would hold memory and cores the trainer needs
        checkpoint, result = train(ctx, r, policy, rows)
    with phase(ctx, r, "evaluate"):
        metrics = evaluate(ctx, r, Policy(f"round-{r}", str(checkpoint)))
    metrics.update(round_stats_metrics(ctx, r, rows, result))
    kept, reason = gate(ctx, r, metrics)
    metrics["kept"] = float(kept)
    ctx.store.finish_round(r, kept=kept, gate_reason=reason, checkpoint=str(checkpoint), metrics=metrics)
    close_generators(ctx)
    ctx.ui.round_summary(r, metrics, kept, reason, k=ctx.k)
    return metrics


# -- the policy --------------------------------------------------------------------------------


def current_policy(ctx: RunContext, r: int) -> Policy:
    """The latest kept checkpoint before round r; round 0 (or no kept model) the round-0 policy."""
    kept = [row for row in ctx.store.checkpoint_rows() if row["kept"] and row["round"] < r]
    if kept:
        last = kept[-1]
        return Policy(f"round-{last['round']}", last["path"])
    if ctx.cfg.search.policy:
        return Policy("uniform", None)  # the search under the uniform cost
    if ctx.cfg.round0 == "grammar":
        return Policy("grammar", None)
    return Policy("base", ctx.base_model)


def generator_for(ctx: RunContext, policy: Policy) -> Generator:
    """The generator that samples from `policy` (loaded once and kept until the round moves on)."""
    if policy.label not in ctx._generators:
        if ctx.cfg.search.policy:
            from proofloop import searchpolicy

            ctx._generators[policy.label] = searchpolicy.generator(ctx, policy)
        elif policy.model is None:
            cfg = GeneratorConfig(backend="grammar", max_size=ctx.cfg.generator.max_size)
            problems = list(ctx.problems.values())
            ctx._generators[policy.label] = make_generator(cfg, prover=ctx.prover, problems=problems)
        else:
            cfg = ctx.cfg.generator.model_copy(update={"model": policy.model})
            ctx._generators[policy.label] = make_generator(cfg, ray=ray_options(ctx.cfg))
    return ctx._generators[policy.label]


def ray_options(cfg: RunConfig) -> Any:
    """The Ray options of `[checker]`, which sampling replicas share with checking (one connection)."""
    if cfg.generator.replicas <= 1 and cfg.checker.executor != "ray":
        return None
    from proofloop.raycheck import RayOptions

    return RayOptions.from_checker(cfg.checker)


def close_generators(ctx: RunContext) -> None:
    """Close every loaded generator (freeing its GPU memory) and forget it."""
    while ctx._generators:
        ctx._generators.popitem()[1].close()


def generator_label(ctx: RunContext, policy: Policy) -> str:
    if ctx.cfg.search.policy:
        from proofloop import searchpolicy

        return searchpolicy.label(ctx, policy)
    return "grammar" if policy.model is None else f"{ctx.cfg.generator.backend}:{policy.label}"


# -- sample ------------------------------------------------------------------------------------


def sample(
    ctx: RunContext,
    r: int,
    purpose: str,
    policy: Policy,
    problem_ids: Sequence[str],
    n: int,
    temperature: float,
    *,
    prompts: dict[str, str] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> int:
    """Draw n samples per problem and store them, a chunk of problems per transaction.

    Chunks are fixed by the problem order and seeded per (seed, round, purpose, chunk), so a
    resumed round skips the chunks it stored and redraws the others as they would have been.
    """
    prompts = prompts or ctx.prompts
    stored = ctx.store.attempt_keys(r, purpose)
    per_chunk = max(1, ctx.cfg.generator.batch_size * ctx.cfg.generator.replicas // n)
    chunks = [list(problem_ids[i : i + per_chunk]) for i in range(0, len(problem_ids), per_chunk)]
    todo = [c for c in chunks if any((pid, i) not in stored for pid in c for i in range(n))]
    if not todo:
        return 0
    generator = generator_for(ctx, policy)
    label = generator_label(ctx, policy)
    base = SamplingParams(
        temperature=temperature,
        top_p=ctx.cfg.sampling.top_p,
        max_new_tokens=ctx.cfg.sampling.max_new_tokens,
        stop=ctx.prover.stop,
    )
    drawn = 0
    with ctx.ui.progress(f"round {r}: sample {purpose}", total=sum(len(c) for c in todo) * n) as advance:
        for chunk in todo:
            params = replace(base, seed=derive_seed(ctx.cfg.run.seed, r, purpose, chunk[0]))
            outputs = generator.generate([prompts[pid] for pid in chunk], n, params)
            rows = [
                attempt_row(ctx, r, purpose, pid, i, prompts[pid], completion, label, params, (extra or {}).get(pid))
                for pid, completions in zip(chunk, outputs)
                for i, completion in enumerate(completions)
            ]
            ctx.store.add_attempts(rows)
            drawn += len(rows)
            advance(len(rows))
    ctx.store.add_round_stats(r, {f"samples_{purpose}": drawn})
    return drawn


def sample_train(ctx: RunContext, r: int, policy: Policy) -> int:
    """The round's train samples: n for every train problem, or a frontier plan (proofloop/curriculum.py)."""
    s = ctx.cfg.sampling
    if not s.frontier:
        return sample(ctx, r, "train", policy, ctx.train_ids, s.n, s.temperature)
    from proofloop.curriculum import frontier_plan, groups

    plan = ctx.store.allocation(r)
    if not plan:
        plan = {a.problem_id: (a.samples, a.reason) for a in frontier_plan(ctx, r)}
        ctx.store.set_allocation(r, [(pid, n, why) for pid, (n, why) in plan.items()])
    by_count = groups(plan)
    return sum(sample(ctx, r, "train", policy, ids, count, s.temperature) for count, ids in sorted(by_count.items()))


def attempt_row(
    ctx: RunContext, r: int, purpose: str, pid: str, idx: int, prompt: str, completion: Completion, label: str,
    params: SamplingParams, extra: dict[str, Any] | None,
) -> AttemptRow:
    """An attempt for the store: the raw completion, the extracted candidate and its hashes."""
    candidate = ctx.prover.extract(completion.text, prompt)
    recorded = {
        "temperature": params.temperature, "top_p": params.top_p, "max_new_tokens": params.max_new_tokens,
        "seed": params.seed, "stop": list(params.stop), **(extra or {}),
    }
    return AttemptRow(
        round=r, purpose=purpose, problem_id=pid, sample_idx=idx, completion=completion.text,
        candidate=candidate, candidate_hash=sha256(candidate), canonical_hash=canonical_hash(ctx.prover, candidate),
        generator=label, params=recorded, num_tokens=completion.num_tokens, logprob=completion.logprob,
    )


def derive_seed(*parts: object) -> int:
    """A 31-bit seed determined by `parts` alone (stable across processes and platforms)."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


# -- check -------------------------------------------------------------------------------------


def check(ctx: RunContext, r: int, purpose: str) -> int:
    """Check every attempt of (round, purpose) that has no verdict yet, once per canonical form."""
    pending = ctx.store.pending_attempts(r, purpose, ctx.checker, ctx.checker_version)
    unique: dict[tuple[str, str], dict] = {}
    for a in pending:
        unique.setdefault((a["problem_id"], a["canonical_hash"]), a)
    items = list(unique.values())
    if not items:
        return 0
    with ctx.ui.progress(f"round {r}: check {purpose}", total=len(items)) as advance:
        for start in range(0, len(items), CHECK_BATCH):
            batch = items[start : start + CHECK_BATCH]
            verdicts = check_candidates(ctx, [(a["problem_id"], a["candidate"]) for a in batch], advance)
            ctx.store.put_verdicts((a["problem_id"], a["canonical_hash"], v) for a, v in zip(batch, verdicts))
            ctx.store.add_round_stats(r, {f"checks_{purpose}": len(batch)})
    return len(items)


def check_candidates(
    ctx: RunContext, items: Sequence[tuple[str, str]], advance: Callable[[int], None] | None = None
) -> list[Verdict]:
    """Run the checker on (problem id, candidate) pairs through the run's check pool."""
    work = [(ctx.problems[pid], candidate) for pid, candidate in items]
    try:
        verdicts = ctx.checks.check_batch(work, ctx.limits, advance)
    except ProofloopError:
        raise
    except Exception as e:
        # A checker that raises on a candidate is broken; stop (resumable) rather than guess a verdict.
        raise CheckerCrash(
            f"the {ctx.checker} checker failed on a batch of {len(work)} candidates: {type(e).__name__}: {e} "
            "(set PROOFLOOP_DEBUG=1 for the traceback; `proofloop run --resume` continues after a fix)"
        ) from e
    for v in verdicts:
        if (v.checker, v.checker_version) != (ctx.checker, ctx.checker_version):
            raise CheckerCrash(
                f"the checker reported itself as {v.checker} {v.checker_version}, expected "
                f"{ctx.checker} {ctx.checker_version}; a verdict cache keyed on the wrong version would be unsound"
            )
    return verdicts


def retry_with_counterexamples(ctx: RunContext, r: int, policy: Policy) -> int:
    """Resample each unsolved train problem once, with a failed candidate's counterexample in the prompt."""
    solved = ctx.store.verified_problem_ids(ctx.checker, ctx.checker_version, purposes=("train",), min_round=r, max_round=r)
    prompts: dict[str, str] = {}
    extra: dict[str, dict[str, Any]] = {}
    for a in ctx.store.attempts(r, "train", ctx.checker, ctx.checker_version):
        pid = a["problem_id"]
        if pid in solved or pid in prompts or a["status"] != Status.REJECTED.value or not a["counterexample"]:
            continue
        prompts[pid] = retry_prompt(ctx.prompts[pid], a["candidate"], a["counterexample"])
        extra[pid] = {"retry_of": a["id"]}
    ids = [pid for pid in ctx.train_ids if pid in prompts]
    return sample(ctx, r, "retry", policy, ids, ctx.cfg.sampling.n, ctx.cfg.sampling.temperature, prompts=prompts, extra=extra)


def retry_prompt(prompt: str, candidate: str, counterexample_json: str) -> str:
    """The problem's prompt preceded by a failed candidate and the checker's counterexample."""
    return f"Previous attempt:\n{candidate}\nCounterexample: {counterexample_json}\nTry again.\n{prompt}"


# -- select ------------------------------------------------------------------------------------


def select(ctx: RunContext, r: int) -> list[DatasetRow]:
    """Add this round's verified solutions to the dataset and choose the round's training rows."""
    attempts = [
        a for purpose in ("train", "retry") for a in ctx.store.attempts(r, purpose, ctx.checker, ctx.checker_version)
    ]
    s = ctx.cfg.select
    new = verified_rows(attempts, r) if s.own_rows else []
    if (r == 0 or s.seed_unlock) and (s.reference_rounds is None or r <= s.reference_rounds):
        new += reference_rows(ctx, r)
    ctx.store.add_dataset_rows(new)
    counts = ctx.store.verified_counts(ctx.checker, ctx.checker_version, max_round=r)
    chosen = training_set(
        ctx.store.dataset_rows(max_round=r, version=ctx.checker_version),
        ctx.cfg.select.per_problem_cap,
        dedup=ctx.cfg.select.dedup,
        multiplicity=lambda row: counts.get((row.problem_id, row.canonical_hash), 1),
    )
    ctx.store.set_training_rows(r, [row.id for row in chosen])
    return chosen


def reference_rows(ctx: RunContext, r: int = 0) -> list[DatasetRow]:
    """The seed data: reference solutions of a seeded fraction of train problems, checked like any candidate.

    Only problems at the ladder levels that round r has unlocked count (curriculum.seed_level).
    """
    from proofloop.curriculum import Ladder, seed_level, up_to_level

    train = [ctx.problems[pid] for pid in ctx.train_ids]
    ladder = Ladder.of(ctx.prover, train)
    chosen = seed_problems(train, ctx.cfg.select.seed_fraction, ctx.cfg.run.seed)
    chosen = up_to_level(chosen, ladder, seed_level(ctx.cfg, r, ladder.top))
    keyed = [(p.id, p.reference, canonical_hash(ctx.prover, p.reference)) for p in chosen]
    cached = {key: ctx.store.cached_verdict(key[0], key[2], ctx.checker, ctx.checker_version) for key in keyed}
    todo = [key for key in keyed if cached[key] is None]
    if todo:
        verdicts = check_candidates(ctx, [(pid, ref) for pid, ref, _ in todo])
        ctx.store.put_verdicts((pid, chash, v) for (pid, _, chash), v in zip(todo, verdicts))
        cached.update(zip(todo, verdicts))
    rows = []
    for key in keyed:
        verdict = cached[key]
        if not verdict.verified:
            log.warning("reference solution of %s does not verify (%s); left out", key[0], verdict.reason)
            continue
        rows.append(
            DatasetRow(
                problem_id=key[0], candidate=key[1], canonical_hash=key[2], origin="reference", round=r,
                checker=verdict.checker, checker_version=verdict.checker_version, verdict_seconds=verdict.seconds,
            )
        )
    return rows


# -- train -------------------------------------------------------------------------------------


def train(ctx: RunContext, r: int, policy: Policy, rows: Sequence[DatasetRow]) -> tuple[Path, TrainResult]:
    """Fine-tune M_r on the round's rows (from the base model, or continuing the policy)."""
    if ctx.cfg.search.policy:
        from proofloop import searchpolicy

        return searchpolicy.fit(ctx, r, policy, rows, lambda out: train_model(ctx, r, policy, rows, out))
    out = ctx.run_dir / "checkpoints" / f"round-{r}"
    done = load_result(out)
    if done is not None:
        return out, done
    return out, train_model(ctx, r, policy, rows, out)


def train_model(ctx: RunContext, r: int, policy: Policy, rows: Sequence[DatasetRow], out: Path) -> TrainResult:
    """Fine-tune the generator model on the rows into `out`."""
    start = policy.model if ctx.cfg.train.from_ == "continue" and policy.model else ctx.base_model
    settings = TrainSettings.from_section(ctx.cfg.train, seed=derive_seed(ctx.cfg.run.seed, r, "train"))
    examples = training_examples(ctx, [(row.problem_id, row.candidate) for row in rows])
    with ctx.ui.progress(f"round {r}: train", total=None) as advance:
        return train_sft(
            start, examples, out, settings, progress=lambda step, total, loss: advance(1, total=total, loss=loss)
        )


def training_examples(ctx: RunContext, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(prompt, completion) for (problem id, candidate) pairs: what the model should write after each prompt.

    A candidate the prover cannot write as a continuation of its prompt is left out, with a warning.
    """
    examples = []
    for pid, candidate in pairs:
        completion = ctx.prover.target(ctx.prompts[pid], candidate)
        if completion is None:
            log.warning("%s: a candidate cannot be written as a continuation of the prompt; left out", pid)
            continue
        examples.append((ctx.prompts[pid], completion))
    return examples


# -- evaluate ----------------------------------------------------------------------------------


def evaluate(ctx: RunContext, r: int, model: Policy) -> dict[str, float]:
    """Held-out pass@1/pass@k, probe forgetting, diversity and held-out NLL of M_r."""
    s = ctx.cfg.sampling
    probe = probe_ids(ctx, r)
    sample(ctx, r, "heldout", model, ctx.heldout_ids, s.eval_n, s.eval_temperature)
    sample(ctx, r, "probe", model, probe, s.eval_n, s.eval_temperature)
    # The grammar baseline needs a grammar sampler, which only some provers have (not Lean).
    search = ctx.cfg.search.policy
    baseline_round = r == 0 and (ctx.prover.can_sample or search)
    if baseline_round:
        # The search's baseline is the search under the uniform cost; a model's, the grammar sampler.
        baseline = Policy("uniform", None) if search else Policy("grammar", None)
        sample(ctx, r, "baseline", baseline, ctx.heldout_ids, s.eval_n, s.eval_temperature)
    for purpose in ("heldout", "probe", "baseline"):
        check(ctx, r, purpose)
    heldout = ctx.store.attempts(r, "heldout", ctx.checker, ctx.checker_version)
    metrics = pass_metrics(heldout, ctx.k, "heldout")
    if baseline_round:
        baseline = ctx.store.attempts(r, "baseline", ctx.checker, ctx.checker_version)
        metrics.update(pass_metrics(baseline, ctx.k, "uniform_heldout" if search else "grammar_heldout"))
    solved_probe = {a["problem_id"] for a in ctx.store.attempts(r, "probe", ctx.checker, ctx.checker_version)
                    if a["status"] == Status.VERIFIED.value}
    metrics.update(slice_metrics(ctx, r, heldout))
    metrics["forgetting"] = forgetting_rate(probe, solved_probe)
    metrics["probe_size"] = float(len(probe))
    metrics.update(diversity_metrics(heldout))
    if not search:  # a search's answers do not spread like a model's samples
        metrics.update(coverage(ctx, r, model))
    nll = heldout_nll(ctx, model)
    if nll is not None:
        metrics["heldout_nll"] = nll
    return metrics


def coverage(ctx: RunContext, r: int, model: Policy) -> dict[str, float]:
    """The coverage curve of M_r: held-out pass@k for k = 1, 2, 4, ... up to sampling.coverage_n on
    a fixed, seeded subset of held-out problems (the unbiased estimator, as every pass@k here)."""
    s = ctx.cfg.sampling
    ids = coverage_ids(ctx)
    if not ids:
        return {}
    sample(ctx, r, "coverage", model, ids, s.coverage_n, s.eval_temperature)
    check(ctx, r, "coverage")
    return coverage_metrics(ctx.store.attempts(r, "coverage", ctx.checker, ctx.checker_version), s.coverage_n)


def coverage_ids(ctx: RunContext) -> list[str]:
    """The coverage curve's held-out problems: the same seeded subset in every round."""
    size = ctx.cfg.sampling.coverage_problems
    return sorted(sorted(ctx.heldout_ids, key=lambda pid: stable_rank(ctx.cfg.run.seed, f"coverage:{pid}"))[:size])


def slice_metrics(ctx: RunContext, r: int, heldout: Sequence[dict]) -> dict[str, float]:
    """pass@k of the generated and the hand-written held-out problems apart, and the highest levels solved."""
    from proofloop.curriculum import Ladder, ladder_metrics

    baseline = ctx.store.attempts(r, "baseline", ctx.checker, ctx.checker_version) if r == 0 else []
    train = ctx.store.verified_problem_ids(ctx.checker, ctx.checker_version, max_round=r)
    out = ladder_metrics(Ladder.of(ctx.prover, ctx.problems.values()), heldout, baseline, train, ctx.k,
                         lambda a, k, p: pass_metrics(a, k, p), "uniform_heldout" if ctx.cfg.search.policy else "grammar_heldout")
    if ctx.cfg.loop.conjectures:
        from proofloop.conjecture import conjecture_metrics

        out.update(conjecture_metrics(ctx.train_ids, train))
    return out


def probe_ids(ctx: RunContext, r: int) -> list[str]:
    """The probe set for round r: train problems that a model policy solved in rounds before r.

    Problems only the grammar sampler solved are left out: failing those is not forgetting,
    since no model ever solved them.
    """
    if r == 0:
        return []
    solved = ctx.store.verified_problem_ids(
        ctx.checker, ctx.checker_version, max_round=r - 1, exclude_generators=("grammar",)
    )
    return sorted(probe_problems(solved, ctx.cfg.problems.probe_size, ctx.cfg.run.seed))


def heldout_nll(ctx: RunContext, model: Policy) -> float | None:
    """Per-token NLL of the held-out reference solutions under M_r (None if the backend can't score)."""
    generator = generator_for(ctx, model)
    refs = training_examples(ctx, [(pid, ctx.problems[pid].reference) for pid in ctx.heldout_ids if ctx.problems[pid].reference])
    if not refs or not isinstance(generator, Scorer):
        return None
    completions = [c for _, c in refs]
    return nll_per_token(generator.score([p for p, _ in refs], completions), generator.count_tokens(completions))


# -- gate --------------------------------------------------------------------------------------


def gate(ctx: RunContext, r: int, metrics: dict[str, float]) -> tuple[bool, str]:
    """Keep M_r only when every guard of `loop.guards` keeps it (proofloop/guards.py); each guard's
    decision is recorded as the metric `guard_<name>` (1 kept, 0 discarded)."""
    from proofloop.guards import RoundView, run_guards

    view = RoundView(
        round=r, k=ctx.k, metrics=metrics,
        kept_before=[row["round"] for row in ctx.store.round_rows() if row["kept"] == 1 and row["round"] < r],
        metrics_of=ctx.store.metrics, per_problem=lambda q: heldout_pass_by_problem(ctx, q),
        settings=ctx.cfg.loop, seed=derive_seed(ctx.cfg.run.seed, r, "gate"),
    )
    kept, reason, decisions = run_guards(ctx.cfg.loop.guards, view)
    metrics.update({f"guard_{name}": float(d.keep) for name, d in decisions.items()})
    return kept, reason


def heldout_pass_by_problem(ctx: RunContext, r: int) -> dict[str, float]:
    """Held-out problem -> pass@k of round r's model."""
    return pass_at_k_by_problem(problem_counts(ctx.store.attempts(r, "heldout", ctx.checker, ctx.checker_version)), ctx.k)


# -- bookkeeping -------------------------------------------------------------------------------


@contextmanager
def phase(ctx: RunContext, r: int, name: str) -> Iterator[None]:
    """Mark the round's phase in the store and add the time it took to the round's counters."""
    ctx.store.set_phase(r, name)
    started = time.perf_counter()
    yield
    key = "time_eval_s" if name == "evaluate" else f"time_{name}_s"
    ctx.store.add_round_stats(r, {key: time.perf_counter() - started})


def round_stats_metrics(ctx: RunContext, r: int, rows: Sequence[DatasetRow], result: TrainResult) -> dict[str, float]:
    """Counts, times and throughput of the round, from the store's counters and the training run."""
    stats = ctx.store.round_stats(r)
    samples = stats.get("samples_train", 0.0) + stats.get("samples_retry", 0.0)
    checks = stats.get("checks_train", 0.0) + stats.get("checks_retry", 0.0)
    solved = ctx.store.verified_problem_ids(ctx.checker, ctx.checker_version, max_round=r)
    solved_round = ctx.store.verified_problem_ids(ctx.checker, ctx.checker_version, min_round=r, max_round=r)
    times = {key: stats.get(key, 0.0) for key in ("time_sample_s", "time_check_s", "time_train_s", "time_eval_s")}
    return {
        "solved_train": float(len(solved)),
        "solved_train_round": float(len(solved_round)),
        "disputed": float(disputed_count(ctx, r)),
        "dataset_size": float(len(ctx.store.dataset_rows(max_round=r, version=ctx.checker_version))),
        "train_rows": float(len(rows)),
        **times,
        "time_select_s": stats.get("time_select_s", 0.0),
        **({"time_pretrain_s": stats["time_pretrain_s"]} if "time_pretrain_s" in stats else {}),
        "samples_per_s": samples / times["time_sample_s"] if times["time_sample_s"] > 0 else 0.0,
        "checks_per_s": checks / times["time_check_s"] if times["time_check_s"] > 0 else 0.0,
        "train_tokens_per_s": result.tokens_per_s,
        "train_loss_first": result.loss_first,
        "train_loss_last": result.loss_last,
        "train_steps": float(result.steps),
    }


def disputed_count(ctx: RunContext, r: int) -> int:
    """Attempts of round r the cross-check's two solvers judged differently (never verified)."""
    purposes = ("train", "retry", "heldout", "probe", "baseline", "coverage")
    return sum(
        a["status"] == Status.DISPUTED.value
        for purpose in purposes
        for a in ctx.store.attempts(r, purpose, ctx.checker, ctx.checker_version)
    )


# -- the run -----------------------------------------------------------------------------------


def run_loop(ctx: RunContext) -> Path:
    """Run (or finish) rounds 0..loop.rounds; rounds already done are skipped."""
    with torch_threads(ctx.cfg):
        for r in range(ctx.cfg.loop.rounds + 1):
            row = ctx.store.round_row(r)
            if row is not None and row["phase"] == "done":
                continue
            run_round(ctx, r)
    return ctx.run_dir


@contextmanager
def torch_threads(cfg: RunConfig) -> Iterator[None]:
    """Run the block with the configured number of torch threads, restoring the previous number."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.run.torch_threads or min(4, cpu_count()))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def create_run(cfg: RunConfig, ui: Any) -> RunContext:
    """Load the problems, make a new run directory with its store, and set up the base model."""
    prover = configured_prover(cfg)
    problems = load_run_problems(cfg, prover)
    preflight(cfg, prover, problems)
    if not cfg.problems.allow_overlap:
        from proofloop.audit import audit, refuse_overlap

        refuse_overlap(audit(prover, problems), str(cfg.problems.path or "the bundled problems"))
    store = Store.create(cfg.run_dir(), cfg)
    try:
        store.add_problems(problems, [prover.prompt(p) for p in problems])
        return _context(cfg, store, prover, ui)
    except BaseException:
        store.close()
        raise


def resume_run(run_dir: Path, overrides: list[str], ui: Any) -> RunContext:
    """Open a run directory and continue it with its saved config (plus resumable overrides)."""
    store = Store.open(run_dir)
    try:
        saved = store.config_dict()
        cfg = load_resumed_config(saved, overrides)
        if cfg.to_dict() != validate_config(saved).to_dict():
            store.save_config(cfg)
        prover = configured_prover(cfg)
        if not store.problem_rows():  # killed between creating the store and recording its problems
            problems = load_run_problems(cfg, prover)
            store.add_problems(problems, [prover.prompt(p) for p in problems])
        ctx = _context(cfg, store, prover, ui)
        preflight(cfg, prover, list(ctx.problems.values()))
        ctx.recheck = recheck_stale(ctx, check_candidates)  # verdicts made under other rules
        return ctx
    except BaseException:
        store.close()
        raise


def preflight(cfg: RunConfig, prover: Prover, problems: Sequence[Problem]) -> None:
    """Refuse, before anything is sampled, a run whose checking the installed tools cannot do: a
    cross-checker that is not installed, problems that need modules the toolchain lacks."""
    from proofloop import searchpolicy

    searchpolicy.require(cfg, prover)
    checker_version(prover, cfg.checker.cross_check)
    prover.require(problems)


def configured_prover(cfg: RunConfig) -> Prover:
    """The run's prover, with its settings table (e.g. [lean]) applied where it takes one."""
    prover = get_prover(cfg.problems.prover)
    settings = cfg.prover_settings()
    if settings:
        prover.configure(settings)
    return prover


def _context(cfg: RunConfig, store: Store, prover: Prover, ui: Any) -> RunContext:
    rows = store.problem_rows()
    problems = {
        row["id"]: prover.from_text(
            row["text"], id=row["id"], source=row["source"] or "", split=row["split"], reference=row["reference"]
        )
        for row in rows
    }
    ctx = RunContext(
        cfg=cfg,
        store=store,
        prover=prover,
        problems=problems,
        prompts={row["id"]: row["prompt"] for row in rows},
        train_ids=[row["id"] for row in rows if row["split"] == "train"],
        heldout_ids=[row["id"] for row in rows if row["split"] == "heldout"],
        base_model="",
        ui=ui,
        checker=prover.name,
        checker_version=checker_version(prover, cfg.checker.cross_check),  # the verdict cache key
        workers=cfg.checker.workers or cpu_count(),
        checks=pool_from_config(cfg.checker),
    )
    ctx.base_model = ensure_base_model(ctx)
    return ctx


def ensure_base_model(ctx: RunContext) -> str:
    """The configured model, or the tiny from-scratch model in RUN_DIR/base_model (created once)."""
    if ctx.cfg.generator.model:
        return ctx.cfg.generator.model
    from proofloop.searchpolicy import reads_model

    if ctx.cfg.search.policy and not reads_model(ctx.cfg):
        return ""  # the guide reads no model: none is made
    from proofloop.tinymodel import default_corpus, init_model

    path = ctx.run_dir / "base_model"
    if (path / "config.json").is_file():
        return str(path)
    tmp = ctx.run_dir / "base_model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    # Held-out references stay out of the tokenizer corpus: the model must not see them at all.
    corpus_problems = [
        p if p.split == "train" else replace(p, reference=None) for p in ctx.problems.values()
    ]
    with ctx.ui.progress("base model", total=None):
        init_model(tmp, default_corpus(corpus_problems), size=ctx.cfg.train.base_size, seed=ctx.cfg.run.seed)
    if ctx.cfg.train.base_pretrain_steps:
        pretrain_base(ctx, tmp)
    os.replace(tmp, path)
    return str(path)


def pretrain_base(ctx: RunContext, model_dir: Path) -> TrainResult:
    """Language-model training of the new base model on the train prompts, in place.

    Only the problems' statements are used (no solutions, no held-out problems): the model
    learns the syntax and the shape of the problems, not their answers.
    """
    t = ctx.cfg.train
    settings = TrainSettings.from_section(
        t, epochs=t.base_pretrain_steps * t.batch_size / len(ctx.train_ids), max_steps=t.base_pretrain_steps,
        seed=derive_seed(ctx.cfg.run.seed, "pretrain"), lora_r=None, quantization=None,  # a random model: train it all
    )
    texts = [ctx.prompts[pid] for pid in ctx.train_ids]
    out = model_dir.with_name(model_dir.name + ".pretrained")
    with ctx.ui.progress("base model: pretrain", total=None) as advance, torch_threads(ctx.cfg):
        result = pretrain_lm(
            model_dir, texts, out, settings, progress=lambda step, total, loss: advance(1, total=total, loss=loss)
        )
    shutil.rmtree(model_dir)
    os.replace(out, model_dir)
    ctx.store.add_round_stats(0, {"time_pretrain_s": result.seconds})
    return result
