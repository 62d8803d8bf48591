"""Generator backends behind one interface; see `proofloop.generate.base`.

`make_generator(cfg)` builds the backend a `GeneratorConfig` names. Each backend's heavy
dependency (torch/transformers, vllm, httpx) is imported only when that backend is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from proofloop.errors import ConfigError
from proofloop.generate.base import Completion, Generator, GeneratorError, SamplingParams, Scorer
from proofloop.generate.config import GeneratorConfig

if TYPE_CHECKING:
    from proofloop.prover import Prover
    from proofloop.raycheck import RayOptions
    from proofloop.types import Problem

__all__ = ["Completion", "Generator", "GeneratorConfig", "GeneratorError", "SamplingParams", "Scorer", "make_generator"]


def make_generator(
    cfg: GeneratorConfig, *, prover: "Prover | None" = None, problems: "Sequence[Problem] | None" = None,
    ray: "RayOptions | None" = None,
) -> Generator:
    """The generator `cfg` describes; the grammar backend also needs the prover and its problems,
    and replicas (`cfg.replicas > 1`) connect to Ray as `ray` says (a run passes its `[checker]`
    Ray options, so that checking and sampling share one connection)."""
    if cfg.backend == "grammar":
        if prover is None or problems is None:
            raise ConfigError("generator.backend = 'grammar' needs the prover and the problems it samples for")
        from proofloop.generate.grammar import GrammarGenerator

        return GrammarGenerator(prover, problems, max_size=cfg.max_size)
    if cfg.backend == "openai":
        from proofloop.generate.openai import OpenAIGenerator

        return OpenAIGenerator.from_config(cfg)
    if not cfg.model:
        raise ConfigError(
            f"generator.model is not set for backend {cfg.backend!r}; give a Hugging Face model id or a "
            "directory (e.g. one made by `proofloop init-model DIR`)"
        )
    if cfg.replicas > 1:
        from proofloop.generate.replicas import RayReplicas, ScoringRayReplicas

        return (ScoringRayReplicas if cfg.backend == "hf" else RayReplicas)(cfg, cfg.replicas, ray)
    if cfg.backend == "vllm":
        from proofloop.generate.vllm import VLLMGenerator

        return VLLMGenerator.from_config(cfg)
    from proofloop.generate.hf import HFGenerator

    return HFGenerator.load(cfg.model, device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size)
