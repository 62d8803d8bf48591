"""The grammar generator: random size-bounded derivations from each problem's grammar.

It is the round-0 policy (before any model has seen a verified candidate) and the baseline in
every report. The derivations themselves are the prover's business (`prover.sample`); this
module maps each prompt back to its problem and gives every problem its own random stream, so
that a seed reproduces the same samples whatever the order or batching of the prompts.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from proofloop.errors import ConfigError
from proofloop.generate.base import Completion, GeneratorError, SamplingParams, check_request
from proofloop.prover import Prover
from proofloop.types import Problem

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[()]|[^\s()]+")


def rough_tokens(text: str) -> int:
    """A model-free token count: parentheses and whitespace-separated atoms."""
    return len(_TOKEN.findall(text))


class GrammarGenerator:
    """Samples candidates from the grammar of the problem behind each prompt.

    Temperature, top-p, max_new_tokens and stop strings do not apply; `max_size` bounds the
    size of each derivation instead. Completions carry logprob 0.0 (there is no model).
    """

    name = "grammar"

    def __init__(self, prover: Prover, problems: Sequence[Problem], *, max_size: int = 16) -> None:
        if not prover.can_sample:
            raise ConfigError(
                f"prover {prover.name!r} has no grammar sampler; "
                'use a model backend (generator.backend = "hf", "vllm" or "openai") for round 0'
            )
        if max_size < 1:
            raise ConfigError(f"generator.max_size = {max_size}: must be >= 1")
        self.prover = prover
        self.max_size = max_size
        self._by_prompt: dict[str, Problem] = {}
        for problem in problems:
            self._by_prompt.setdefault(prover.prompt(problem), problem)

    def close(self) -> None:
        """Nothing to give back: the grammar generator holds no model."""

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n candidates for each prompt's problem, in prompt order."""
        check_request(prompts, n, params)
        return [self._samples(i, prompt, n, params.seed) for i, prompt in enumerate(prompts)]

    def _samples(self, index: int, prompt: str, n: int, seed: int | None) -> list[Completion]:
        problem = self._by_prompt.get(prompt)
        if problem is None:
            raise GeneratorError(
                f"grammar: prompt {index} is not the prompt of any of the {len(self._by_prompt)} problems "
                "this generator was built for"
            )
        # A stream per problem: seeded runs reproduce regardless of which prompts share a call.
        rng = random.Random(f"{seed}:{problem.id}") if seed is not None else random.Random()
        samples = list(self.prover.sample(problem, n, rng, max_size=self.max_size))
        if not samples:
            # The grammar derives no finite term: the policy has nothing to offer, and
            # n empty drafts record that as n failed attempts, like a model's unusable output.
            log.warning("grammar: the grammar of %s derives no term; recording empty drafts", problem.id)
            samples = [""] * n
        if len(samples) != n:
            raise GeneratorError(
                f"grammar: the sampler returned {len(samples)} samples for {problem.id}, asked for {n}"
            )
        return [Completion(text=s, num_tokens=rough_tokens(s), logprob=0.0) for s in samples]
