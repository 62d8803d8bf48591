"""One interface over every way of drafting candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from proofloop.errors import ProofloopError


class GeneratorError(ProofloopError):
    """A generator backend failed: a server kept erring, a request was refused, a prompt is too long."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    """One sampled continuation: its text, how many tokens it took, and the sum of their
    log-probabilities under the sampling model (0.0 where a backend has none, e.g. grammar).

    The log-probabilities are the model's own (temperature 1, no top-p), so that `logprob`
    equals the model's scoring of the same tokens whatever the sampling settings were. The
    text stops before the first stop string; `num_tokens` and `logprob` cover every generated
    token up to and including the one that completed the stop string or was EOS.
    """

    text: str
    num_tokens: int
    logprob: float
    # The generated token ids (stop and EOS tokens included) where the backend has them.
    token_ids: tuple[int, ...] = ()


@runtime_checkable
class Generator(Protocol):
    """What every sampling backend implements; docs/architecture.md says where a new one plugs in."""

    name: str

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""

    def close(self) -> None:
        """Give back what the generator holds (GPU memory, connections); it is not used afterwards.

        The loop calls it before training, so that sampler and trainer take the GPU in turns.
        """


@runtime_checkable
class Scorer(Protocol):
    """A generator that can also score text under its model (the hf backend; Ray replicas of it).

    The loop measures the held-out NLL with it; a generator that is not a Scorer (vLLM, an
    OpenAI-compatible server, the grammar sampler) leaves that metric out.
    """

    def score(self, prompts: list[str], continuations: list[str]) -> list[float]:
        """Summed log-probability of each continuation's tokens after its prompt."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text is, as `score` counts a continuation."""


def check_request(prompts: list[str], n: int, params: SamplingParams) -> None:
    """Raise GeneratorError on a request no backend can serve (n < 1, negative temperature...)."""
    if n < 1:
        raise GeneratorError(f"n = {n}: ask for at least one completion per prompt")
    if params.temperature < 0:
        raise GeneratorError(f"temperature = {params.temperature}: must be >= 0 (0 means greedy)")
    if not 0 < params.top_p <= 1:
        raise GeneratorError(f"top_p = {params.top_p}: must be in (0, 1]")
    if params.max_new_tokens < 1:
        raise GeneratorError(f"max_new_tokens = {params.max_new_tokens}: must be >= 1")
    if any(not s for s in params.stop):
        raise GeneratorError("stop: an empty stop string would stop every completion at once; remove it")
    if not all(isinstance(p, str) for p in prompts):
        raise GeneratorError("prompts must be strings")
