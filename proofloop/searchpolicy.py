"""The search as the round's policy (`[search] policy = true`; docs/search.md).

Expert iteration in its first form: the prover's search is the expert, a guide learned from the
search's verified answers is the apprentice. Each round the search runs on every train problem
under `search.budget_s` with the latest kept round's guide (round 0: the uniform cost); its
answers are checked and selected like any samples (dedup, per-problem caps, the guards); then the
round's "training" fits the guide of `search.guide` on the round's training rows and writes it to
the round's checkpoint directory (`guide.json`), with the fine-tuned model beside it when the
guide reads a model (model, mix). Held-out problems are scored by the same search under the new
guide, and round 0 also scores the uniform cost (purpose "baseline", metrics uniform_heldout_*).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from proofloop.errors import ConfigError
from proofloop.trainers.common import TrainResult, load_result, save_result

if TYPE_CHECKING:
    from proofloop.config import RunConfig
    from proofloop.generate.search import SearchGenerator
    from proofloop.loop import Policy, RunContext
    from proofloop.prover import Prover
    from proofloop.types import DatasetRow

GUIDE_FILE = "guide.json"
UNIFORM = "uniform"  # the label of the round-0 policy and of the baseline


def reads_model(cfg: "RunConfig") -> bool:
    """Whether the configured guide samples the generator model (model, mix)."""
    return cfg.search.policy and cfg.search.guide in ("model", "mix")


def require(cfg: "RunConfig", prover: "Prover") -> None:
    """Refuse a search policy the prover cannot run, before anything is recorded."""
    if not cfg.search.policy:
        return
    if not (prover.can_search and prover.search_by_default):
        raise ConfigError(f"search.policy: the {prover.name} prover has no search that runs without a model")
    if cfg.search.guide not in prover.guide_kinds:
        known = ", ".join(prover.guide_kinds) or "none"
        raise ConfigError(f"search.guide = {cfg.search.guide!r}: the {prover.name} prover fits {known}")


def label(ctx: "RunContext", policy: "Policy") -> str:
    """The generator label of the policy's attempts: the guide kind and the round it was fitted in."""
    if policy.model is None:
        return f"search:{UNIFORM}"
    return f"search:{ctx.cfg.search.guide}:{policy.label}"


def generator(ctx: "RunContext", policy: "Policy") -> "SearchGenerator":
    """The search under the policy's guide (uniform when it has no checkpoint)."""
    from proofloop.generate import make_generator
    from proofloop.generate.search import SearchGenerator

    s = ctx.cfg.search
    if policy.model is None:
        guide, model = ctx.prover.fit_guide(UNIFORM, []), None
    else:
        guide = ctx.prover.load_guide(Path(policy.model) / GUIDE_FILE)
        model = None
        if reads_model(ctx.cfg):
            model = make_generator(ctx.cfg.generator.model_copy(update={"model": policy.model}))
    return SearchGenerator(
        ctx.prover, list(ctx.problems.values()), guide, budget_s=s.budget_s, limits=ctx.limits,
        workers=s.workers or ctx.workers or 1, model=model, model_samples=s.model_samples, model_weight=s.model_weight,
    )


def fit(ctx: "RunContext", r: int, policy: "Policy", rows: Sequence["DatasetRow"], train_model: Any) -> tuple[Path, TrainResult]:
    """Round r's guide, fitted on its training rows, in checkpoints/round-r (and the model trained
    beside it by `train_model(out)` when the guide reads a model)."""
    out = ctx.run_dir / "checkpoints" / f"round-{r}"
    done = load_result(out)
    if done is not None and (out / GUIDE_FILE).is_file():
        return out, done
    if reads_model(ctx.cfg):
        result = done or train_model(out)
    started = time.perf_counter()
    solutions = [(ctx.problems[row.problem_id], row.candidate) for row in rows]
    guide = ctx.prover.fit_guide(ctx.cfg.search.guide, solutions)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (GUIDE_FILE + ".tmp")
    ctx.prover.save_guide(guide, tmp)
    if not reads_model(ctx.cfg):
        result = TrainResult(steps=0, examples=len(solutions), tokens=0, seconds=time.perf_counter() - started,
                             loss_first=0.0, loss_last=0.0)
        save_result(out, result)
    tmp.replace(out / GUIDE_FILE)  # last: a checkpoint with its guide file is complete
    return out, result
