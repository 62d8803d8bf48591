"""The vLLM offline engine (`vllm.LLM`) as a generator: for GPU prover models.

vllm is imported only when this backend is chosen; where it is missing the error says what to
install. Log-probabilities are requested for the sampled token only (`logprobs=0`), and a
completion's `logprob` is vLLM's cumulative log-probability of its tokens.

One GPU, two phases: the loop calls `close()` before training, which shuts the engine down
(its engine-core process, weights, KV cache and CUDA graphs) and empties torch's cache, so the
trainer gets the whole GPU; the next phase starts an engine on the new checkpoint. Sleep mode
(`LLM.sleep(level=2)` then `wake_up()`) keeps the process but, once the weights are discarded,
reloads the checkpoint the engine was started with, not the one training just wrote; every
phase after training samples a different checkpoint directory, so a fresh engine is the
reliable way to load it (docs/models.md has the memory plan per phase).
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from proofloop.errors import ToolchainMissing
from proofloop.generate.base import Completion, GeneratorError, SamplingParams, check_request
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

    def close(self) -> None:
        """Shut the engine down and give its GPU memory back (idempotent)."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        log.info("vllm: shutting down the engine for %s", self.model_name)
        _shutdown(llm)
        del llm
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
        check_request(prompts, n, params)
        if self.llm is None:
            raise GeneratorError(f"vllm: the engine for {self.model_name} was closed; make a new generator")
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


def _shutdown(llm: Any) -> None:
    """Stop the engine's worker processes (V1 runs the engine core in its own process).

    The attribute paths differ across vLLM versions, so each step is taken where it exists;
    a process that is not stopped here still ends when its engine object is collected.
    """
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None and callable(getattr(core, "shutdown", None)):
        core.shutdown()
    try:
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel
    except ImportError:
        return
    destroy_model_parallel()
    destroy_distributed_environment()
