"""One interface over every way of drafting candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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
    log-probabilities under the sampling model (0.0 where a backend has none, e.g. grammar)."""

    text: str
    num_tokens: int
    logprob: float


@runtime_checkable
class Generator(Protocol):
    name: str

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
