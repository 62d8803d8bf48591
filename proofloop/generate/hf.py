"""The transformers backend: batched sampling with the KV cache in this process.

Every request is expanded into sequences (n per prompt, as `num_return_sequences` does),
sorted by prompt length so that a batch pads little, and generated in chunks of `batch_size`
sequences with left padding. Log-probabilities are recorded from the raw logits before any
temperature or top-p processing, so a completion's `logprob` is the model's own score of its
tokens (see `Completion`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from proofloop.device import resolve_device, resolve_dtype
from proofloop.errors import ConfigError
from proofloop.generate.base import Completion, GeneratorError, SamplingParams, check_request

log = logging.getLogger(__name__)


def _looks_like_path(model: str) -> bool:
    # "org/name" is a hub id; anything anchored or deeper is meant as a directory.
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def load_model_and_tokenizer(model: str, *, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (left padding) from a local directory or a hub id."""
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    path = Path(model).expanduser()
    local = path.is_dir()
    if not local and _looks_like_path(model):
        raise ConfigError(
            f"generator.model = {model!r}: no such directory; check the path (or run `proofloop init-model`)"
        )
    source = str(path) if local else model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        lm = AutoModelForCausalLM.from_pretrained(source, local_files_only=local, dtype=torch_dtype)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = "a directory written by save_pretrained" if local else "a Hugging Face model id in the local cache"
        raise ConfigError(
            f"generator.model = {model!r}: cannot load it as {where} ({first}); "
            "check the path or id (models are not downloaded without network access)"
        ) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm.to(device).eval()
    return lm, tokenizer


class _RawLogprobs(LogitsProcessor):
    """Records log p(token) under the raw logits; placed before any temperature/top-p warper.

    At step t the processor sees the token chosen at step t-1 (the last column of input_ids),
    so it keeps only one step's log-softmax: O(batch x vocab) memory, not O(steps x vocab).
    """

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []
        self._prev: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._prev is not None:
            self.steps.append(self._prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self._prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        """The (batch, steps) log-probs, given the tokens sampled at the final step."""
        if self._prev is not None:
            self.steps.append(self._prev.gather(1, last_tokens[:, None]).squeeze(1))
            self._prev = None
        return torch.stack(self.steps, dim=1)


class HFGenerator:
    """Samples from a transformers causal LM already loaded in this process."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64, model_name: str = "") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.model_name = model_name
        self.device = next(model.parameters()).device
        eos = model.generation_config.eos_token_id
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_ids = {eos} if isinstance(eos, int) else set(eos or ())
        forward_args = inspect.signature(model.forward).parameters
        # transformers 5 renamed past_key_values to cache.
        self._cache_kw = "cache" if "cache" in forward_args else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in forward_args

    @classmethod
    def load(cls, model: str, *, device: str = "auto", dtype: str = "auto", batch_size: int = 64) -> "HFGenerator":
        """Load `model` (a directory or hub id) and wrap it."""
        lm, tokenizer = load_model_and_tokenizer(model, device=device, dtype=dtype)
        return cls(lm, tokenizer, batch_size=batch_size, model_name=model)

    def close(self) -> None:
        """Drop the model and, on a GPU, the allocator's cached blocks (the trainer needs them next)."""
        on_gpu = self.device.type == "cuda"
        self.model = None
        if on_gpu:
            import gc

            gc.collect()
            torch.cuda.empty_cache()

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
        check_request(prompts, n, params)
        if not prompts:
            return []
        prompt_ids = self._encode_prompts(prompts)
        self._check_lengths(prompt_ids, params.max_new_tokens)
        # Samples of one prompt sit together (their prompt is prefilled once) and prompts of similar
        # length share chunks (little padding); the order is deterministic, so seeds reproduce.
        order = sorted(range(len(prompts)), key=lambda i: (len(prompt_ids[i]), i))
        jobs = [i for i in order for _ in range(n)]
        results: list[list[Completion]] = [[] for _ in prompts]
        with _seeded(params.seed, self.device):
            for start in range(0, len(jobs), self.batch_size):
                chunk = jobs[start : start + self.batch_size]
                distinct = list(dict.fromkeys(chunk))
                rows = [distinct.index(i) for i in chunk]
                completions = self._generate_chunk([prompt_ids[i] for i in distinct], rows, params)
                for i, completion in zip(chunk, completions):
                    results[i].append(completion)
        return results

    def _encode_prompts(self, prompts: list[str]) -> list[list[int]]:
        encoded = self.tokenizer(prompts)["input_ids"] if prompts else []
        for i, ids in enumerate(encoded):
            if not ids:
                raise GeneratorError(f"prompt {i} is empty and this tokenizer adds no BOS token; give it some text")
        return encoded

    def _check_lengths(self, prompt_ids: list[list[int]], max_new_tokens: int) -> None:
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if not limit:
            return
        for i, ids in enumerate(prompt_ids):
            if len(ids) + max_new_tokens > limit:
                raise GeneratorError(
                    f"prompt {i} is {len(ids)} tokens; with max_new_tokens = {max_new_tokens} it exceeds "
                    f"the model's {limit} positions; lower max_new_tokens, drop long problems, or use a larger model"
                )

    @torch.inference_mode()
    def _generate_chunk(self, prompt_ids: list[list[int]], rows: list[int], params: SamplingParams) -> list[Completion]:
        """One sampled sequence per entry of `rows`, an index into the chunk's distinct prompts."""
        batch = self.tokenizer.pad({"input_ids": prompt_ids}, padding=True, return_tensors="pt").to(self.device)
        index = torch.tensor(rows, device=self.device)
        inputs: dict[str, Any] = {
            "input_ids": batch["input_ids"][index],
            "attention_mask": batch["attention_mask"][index],
        }
        cache = self._prefill(batch["input_ids"], batch["attention_mask"], index)
        if cache is not None:
            inputs[self._cache_kw] = cache
        recorder = _RawLogprobs()
        processors: list[LogitsProcessor] = [recorder]
        sampling: dict[str, Any] = {"do_sample": False}
        if params.temperature > 0:
            if params.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                processors.append(TopPLogitsWarper(params.top_p))
            # Temperature and top-p go through our processors, after the recorder; neutralise the
            # warpers transformers or a checkpoint's generation_config would add on its own.
            sampling = {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0}
        out = self.model.generate(
            **inputs,
            **sampling,
            repetition_penalty=1.0,
            max_new_tokens=params.max_new_tokens,
            stop_strings=list(params.stop) or None,
            tokenizer=self.tokenizer if params.stop else None,
            logits_processor=LogitsProcessorList(processors),
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
        )
        generated = out.sequences[:, inputs["input_ids"].shape[1] :]
        logprobs = recorder.finish(generated[:, -1]).cpu()
        return [self._completion(row.tolist(), lp, params.stop) for row, lp in zip(generated.cpu(), logprobs)]

    def _prefill(self, ids: torch.Tensor, mask: torch.Tensor, index: torch.Tensor) -> Any:
        """The KV cache of every prompt but its last token, computed once per distinct prompt and
        re-indexed to one row per sample; None where sharing gains nothing or the cache can't be."""
        if ids.shape[1] < 2 or len(index) == ids.shape[0]:
            return None
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs: dict[str, Any] = {"use_cache": True}
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(
            input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=position_ids[:, :-1], **kwargs
        )
        cache = out.get(self._cache_kw)
        if cache is None or not hasattr(cache, "batch_select_indices"):
            return None
        cache.batch_select_indices(index)
        return cache

    def _completion(self, ids: list[int], logprobs: torch.Tensor, stop: Sequence[str]) -> Completion:
        end = next((k + 1 for k, t in enumerate(ids) if t in self.eos_ids), len(ids))
        ids = ids[:end]
        text = self._decode(ids)
        if stop and any(s in text for s in stop):
            end = self._first_stop_prefix(ids, stop)
            ids = ids[:end]
            text = self._decode(ids)
            text = text[: min(text.find(s) for s in stop if s in text)]
        return Completion(
            text=text, num_tokens=len(ids), logprob=float(logprobs[: len(ids)].sum()), token_ids=tuple(ids)
        )

    def _first_stop_prefix(self, ids: list[int], stop: Sequence[str]) -> int:
        """The fewest leading tokens whose text contains a stop string (binary search)."""
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if any(s in self._decode(ids[:mid]) for s in stop):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def score(self, prompts: list[str], continuations: list[str]) -> list[float]:
        """Sum of log p(continuation tokens | prompt) under the model, one per pair."""
        if len(prompts) != len(continuations):
            raise GeneratorError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        return self.score_ids(prompts, self._continuation_ids(continuations))

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text is, as `score` counts a continuation."""
        return [len(ids) for ids in self._continuation_ids(texts)]

    def _continuation_ids(self, texts: list[str]) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    @torch.inference_mode()
    def score_ids(self, prompts: list[str], continuation_ids: list[Sequence[int]]) -> list[float]:
        """Sum of log p(token ids | prompt): the exact tokens a completion generated."""
        if len(prompts) != len(continuation_ids):
            raise GeneratorError(f"score: {len(prompts)} prompts but {len(continuation_ids)} continuations")
        rows = list(zip(self._encode_prompts(prompts), (list(c) for c in continuation_ids)))
        scores: list[float] = []
        for start in range(0, len(rows), self.batch_size):
            scores.extend(self._score_chunk(rows[start : start + self.batch_size]))
        return scores

    def _score_chunk(self, rows: list[tuple[list[int], list[int]]]) -> list[float]:
        # Right padding keeps positions 0..len-1 without position_ids bookkeeping.
        width = max(len(p) + len(c) for p, c in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (p, c) in enumerate(rows):
            input_ids[r, : len(p) + len(c)] = torch.tensor(p + c, dtype=torch.long)
            mask[r, : len(p) + len(c)] = 1
        logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_lp = logprobs.gather(2, input_ids[:, 1:, None].to(self.device)).squeeze(2).cpu()
        # Position j of token_lp scores token j+1; a continuation occupies [len(p), len(p)+len(c)).
        return [float(token_lp[r, len(p) - 1 : len(p) + len(c) - 1].sum()) for r, (p, c) in enumerate(rows)]


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device):
    """Seed torch for the duration of one request without disturbing the caller's RNG state."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
