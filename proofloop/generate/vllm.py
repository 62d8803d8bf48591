"""The vLLM offline engine (`vllm.LLM`) as a generator: for GPU prover models.

vllm is imported only when this backend is chosen; where it is missing the error says what to
install. Log-probabilities are requested for the sampled token only (`logprobs=0`), and a
completion's `logprob` is vLLM's cumulative log-probability of its tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from proofloop.errors import ToolchainMissing
from proofloop.generate.base import Completion, SamplingParams, check_request
from proofloop.generate.config import GeneratorConfig

log = logging.getLogger(__name__)

_DTYPES = {"auto": "auto", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ToolchainMissing(
            f"generator.backend = 'vllm' needs the vllm package ({e}); install it with "
            "`pip install 'proofloop[vllm]'` on a machine with a CUDA GPU, or use backend = \"hf\""
        ) from None
    return vllm


class VLLMGenerator:
    """Samples with a `vllm.LLM` engine held in this process."""

    name = "vllm"

    def __init__(self, llm: Any, *, model_name: str = "") -> None:
        self.llm = llm
        self.model_name = model_name
        self._vllm = _import_vllm()

    @classmethod
    def from_config(cls, cfg: GeneratorConfig) -> "VLLMGenerator":
        """Start the engine a `[generator]` section with backend = "vllm" describes."""
        vllm = _import_vllm()
        kwargs: dict[str, Any] = {
            "model": cfg.model,
            "tokenizer": cfg.model,
            "dtype": _DTYPES[cfg.dtype],
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "gpu_memory_utilization": cfg.gpu_memory_utilization,
        }
        if cfg.max_model_len is not None:
            kwargs["max_model_len"] = cfg.max_model_len
        log.info("vllm: starting the engine for %s", cfg.model)
        return cls(vllm.LLM(**kwargs), model_name=cfg.model or "")

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
        check_request(prompts, n, params)
        if not prompts:
            return []
        sampling = self._vllm.SamplingParams(
            n=n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=0,
        )
        outputs = self.llm.generate(prompts, sampling, use_tqdm=False)
        return [[_completion(c) for c in out.outputs] for out in outputs]


def _completion(output: Any) -> Completion:
    token_ids = tuple(output.token_ids)
    logprob = output.cumulative_logprob
    if logprob is None and output.logprobs:
        # Some vLLM versions leave cumulative_logprob unset; sum the sampled tokens' entries.
        logprob = sum(step[t].logprob for t, step in zip(token_ids, output.logprobs))
    return Completion(text=output.text, num_tokens=len(token_ids), logprob=float(logprob or 0.0), token_ids=token_ids)
