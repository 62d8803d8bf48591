"""Sampling replicas on Ray: N copies of one generator as Ray actors, prompts sharded across them.

`[generator] replicas = N` (N > 1) wraps the configured backend: each replica is a Ray actor
that loads the model once (hf on CPU, or vLLM with `num_gpus = tensor_parallel_size`, one GPU
or one tensor-parallel group per replica) and serves `generate` calls for its share of prompts.
Prompt i goes to replica i mod N and is sampled with its own seed, derived from the request's
seed and i; so the samples do not depend on how many replicas there are, and results come back
in prompt order. The cost: a replica samples its prompts one at a time (n samples each), not
in one padded batch.

The cluster: the run's `[checker]` Ray options (ray_address, ray_ship_code), else RAY_ADDRESS,
else a local one started here; checking and sampling share this process's one connection, and a
cluster started here stops when the last of them lets go (proofloop.raycheck).
Dropping the generator (the loop does so before training) ends its actors and frees their
memory; `close()` does it at once.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace
from typing import Any

from proofloop.generate.base import Completion, SamplingParams, check_request
from proofloop.generate.config import GeneratorConfig


def prompt_seed(seed: int | None, index: int) -> int | None:
    """The seed of prompt `index` in a request seeded with `seed` (None stays unseeded)."""
    if seed is None:
        return None
    return int(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


class _Replica:
    """One replica (a Ray actor): the wrapped backend, loaded once in the actor's process."""

    def __init__(self, cfg: GeneratorConfig):
        from proofloop.generate import make_generator

        self.generator = make_generator(cfg)

    def generate_each(self, units: list[tuple[str, SamplingParams]], n: int) -> list[list[Completion]]:
        return [self.generator.generate([prompt], n, params)[0] for prompt, params in units]

    def score(self, prompts: list[str], continuations: list[str]) -> list[float]:
        return self.generator.score(prompts, continuations)


class RayReplicas:
    """A Generator whose `generate` shards prompts across replica actors."""

    name = "replicas"

    def __init__(self, cfg: GeneratorConfig, replicas: int, options: Any = None):
        from proofloop.raycheck import RaySession

        self.session = RaySession(options)  # the run's [checker] Ray options: one connection for all
        ray = self.session.connect()
        gpus = cfg.tensor_parallel_size if cfg.backend == "vllm" else (1 if cfg.device == "cuda" else 0)
        # A replica reserves no CPU: sampling and checking run in turns, and check tasks must
        # find the cores free while the replicas (kept for the round) sit idle.
        actor = ray.remote(num_cpus=0, num_gpus=gpus)(_Replica)
        one = cfg.model_copy(update={"replicas": 1})
        self.actors: list[Any] = [actor.remote(one) for _ in range(replicas)]
        self.ray = ray
        self.cfg = one

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
        check_request(prompts, n, params)
        shards: list[list[int]] = [list(range(r, len(prompts), len(self.actors))) for r in range(len(self.actors))]
        refs = [
            actor.generate_each.remote([(prompts[i], replace(params, seed=prompt_seed(params.seed, i))) for i in shard], n)
            for actor, shard in zip(self.actors, shards)
            if shard
        ]
        results: list[list[Completion]] = [[] for _ in prompts]
        for shard, completions in zip([s for s in shards if s], self.ray.get(refs)):
            for i, one in zip(shard, completions):
                results[i] = one
        return results

    def close(self) -> None:
        """End the replica actors now (their models' memory is freed) and let go of the connection."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self.session.close()


class ScoringRayReplicas(RayReplicas):
    """Ray replicas of the hf backend, which can also score (a Scorer): from the first replica,
    since every replica holds the same model."""

    @functools.cached_property
    def _tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.cfg.model)

    def score(self, prompts: list[str], continuations: list[str]) -> list[float]:
        """Summed log-probability of each continuation's tokens after its prompt."""
        return self.ray.get(self.actors[0].score.remote(prompts, continuations))

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text is, as `score` counts a continuation."""
        return [len(self._tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
