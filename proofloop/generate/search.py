"""The search as a generator: a round's policy when `search.policy` is on (docs/search.md).

For each prompt it runs the prover's own search (SyGuS: the synthesizer) on the prompt's problem
under the guide of the round, `n` times with different seeds, in worker processes
(proofloop/searchwork.py), and returns each answer as the completion that gives it after the
prompt; a search that finds nothing returns an empty completion, a failed attempt like a model's
unusable output. Everything downstream (the store, the check pool, dedup, caps, guards, export)
treats these completions like any sample, and the check phase checks them again.

With a model guide (`model`: a generator), the model is first sampled on the prompts; its
candidates become each problem's guide (`Prover.model_guide`) over the round's fitted guide.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from proofloop.generate.base import Completion, Generator, GeneratorError, SamplingParams, check_request
from proofloop.generate.grammar import rough_tokens
from proofloop.prover import Prover
from proofloop.searchwork import search_many
from proofloop.types import CheckLimits, Problem

log = logging.getLogger(__name__)


class SearchGenerator:
    """Completions found by the prover's search under `guide` (and a model's samples, if any)."""

    name = "search"

    def __init__(
        self, prover: Prover, problems: Sequence[Problem], guide: Any, *, budget_s: float, limits: CheckLimits,
        workers: int = 1, model: Generator | None = None, model_samples: int = 8, model_weight: float = 0.5,
    ) -> None:
        if not prover.can_search:
            raise GeneratorError(f"search: the {prover.name} prover has no search of its own")
        self.prover = prover
        self.guide = guide
        self.budget_s = budget_s
        self.limits = limits
        self.workers = workers
        self.model = model
        self.model_samples = model_samples
        self.model_weight = model_weight
        self._by_prompt: dict[str, Problem] = {}
        for problem in problems:
            self._by_prompt.setdefault(prover.prompt(problem), problem)

    def close(self) -> None:
        if self.model is not None:
            self.model.close()

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        check_request(prompts, n, params)
        problems = []
        for i, prompt in enumerate(prompts):
            if prompt not in self._by_prompt:
                raise GeneratorError(
                    f"search: prompt {i} is not the prompt of any of the {len(self._by_prompt)} problems "
                    "this generator was built for"
                )
            problems.append(self._by_prompt[prompt])
        guide = self.guide_for(prompts, problems, params)
        base = params.seed or 0
        jobs = [(p, base + j) for p in problems for j in range(n)]
        results = search_many([p for p, _ in jobs], guide=guide, budget_s=self.budget_s, limits=self.limits,
                              workers=self.workers, seeds=[s for _, s in jobs])
        out: list[list[Completion]] = []
        for i, prompt in enumerate(prompts):
            row = []
            for result in results[i * n : (i + 1) * n]:
                text = ""
                if result.proof is not None and result.verdict is not None and result.verdict.verified:
                    target = self.prover.target(prompt, result.proof)
                    if target is None:
                        log.warning("search: the answer for %s cannot be written after its prompt; dropped", problems[i].id)
                    text = target or ""
                row.append(Completion(text=text, num_tokens=rough_tokens(text), logprob=0.0))
            out.append(row)
        return out

    def guide_for(self, prompts: list[str], problems: list[Problem], params: SamplingParams) -> Any:
        """The round's guide; with a model, each problem's guide from the model's samples over it."""
        if self.model is None:
            return self.guide
        params = replace(params, stop=self.prover.stop)
        try:
            sampled = self.model.generate(prompts, self.model_samples, params)
        except GeneratorError:
            # One prompt the model cannot take (longer than its context) fails the batch: sample
            # them one by one; a problem the model cannot read is searched under the prior alone.
            sampled = []
            for problem, prompt in zip(problems, prompts):
                try:
                    sampled.append(self.model.generate([prompt], self.model_samples, params)[0])
                except GeneratorError as e:
                    log.warning("search: the model guide has no samples for %s (%s)", problem.id, e)
                    sampled.append([])
        samples = {
            p.id: (p, [self.prover.extract(c.text, prompt) for c in completions])
            for p, prompt, completions in zip(problems, prompts, sampled)
            if completions
        }
        return self.prover.model_guide(samples, self.guide, self.model_weight)
