"""Supervised fine-tuning on verified (prompt, candidate) pairs: the one trainer interface of the loop.

The loss covers the candidate tokens (and the end-of-sequence token after them) only: the
model learns to answer a prompt, not to reproduce prompts. Rows are encoded here, once, the
way a generator encodes a prompt (so training sees exactly the tokens sampling will), then one
of two step loops runs them (proofloop/trainers: TRL's SFTTrainer, or on request a plain loop)
on the device and in the precision that proofloop.device resolves. Checkpoints are written into a temporary directory and renamed into place, so a
checkpoint directory either holds a complete model or does not exist; a LoRA run's directory
holds the merged model (what sampling loads) and the adapter alone under `adapter/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from proofloop.errors import ProofloopError
from proofloop.trainers.common import (
    IGNORE,
    STATS_FILE,
    Encoded,
    TrainingDiverged,
    TrainResult,
    TrainSettings,
    diverged,
    load_result,
    tail_mean,
)

__all__ = [
    "IGNORE", "STATS_FILE", "Encoded", "TrainResult", "TrainSettings", "TrainingDiverged", "diverged",
    "encode_example", "load_result", "pretrain_lm", "tail_mean", "train_sft",
]

log = logging.getLogger(__name__)


def encode_example(
    tokenizer, prompt: str, candidate: str, max_seq_len: int, *, eos: bool = True
) -> tuple[list[int], list[int]]:
    """Token ids and labels for prompt -> candidate; prompt tokens are masked out of the loss.

    The prompt is encoded exactly as a generator encodes it (with its special tokens), and
    over-long prompts lose tokens from their start, just after the first (BOS) token. With
    `eos` the candidate is followed by the end-of-sequence token, which the model learns too.
    """
    prompt_ids = tokenizer(prompt)["input_ids"]
    answer_ids = tokenizer(candidate, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    answer_ids = answer_ids[:max_seq_len - 1]
    room = max_seq_len - len(answer_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - room + 1 :] if room > 1 else prompt_ids[:room]
    ids = prompt_ids + answer_ids
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    return ids, labels


def train_sft(
    base: str | Path,
    examples: Sequence[tuple[str, str]],
    out_dir: Path,
    settings: TrainSettings,
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune the model at `base` on (prompt, candidate) pairs and save it to `out_dir`."""
    if not examples:
        raise ProofloopError("train: no training examples (nothing verified and no reference solutions)")
    return _train(base, lambda tok: [encode_example(tok, p, c, settings.max_seq_len) for p, c in examples],
                  out_dir, settings, progress)


def pretrain_lm(
    base: str | Path,
    texts: Sequence[str],
    out_dir: Path,
    settings: TrainSettings,
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Language-model training of the model at `base` on whole texts (the loss covers every token)."""
    if not texts:
        raise ProofloopError("pretrain: no texts to train on")
    return _train(base, lambda tok: [encode_example(tok, "", t, settings.max_seq_len, eos=False) for t in texts],
                  out_dir, settings, progress)


def _train(
    base: str | Path,
    encode: Callable[[Any], list[Encoded]],
    out_dir: Path,
    settings: TrainSettings,
    progress: Callable[[int, int, float], None] | None,
) -> TrainResult:
    from transformers import AutoTokenizer

    from proofloop.device import training_placement
    from proofloop.trainers import pick_trainer

    placement = training_placement(settings.device, settings.dtype, quantization=settings.quantization)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = encode(tokenizer)
    kind = pick_trainer(settings)
    log.info("train: %d rows, %s trainer on %s in %s", len(rows), kind, placement.device, placement.dtype)
    if settings.accelerate_config is not None:
        from proofloop.trainers.launch import train_launched

        return train_launched(base, rows, Path(out_dir), settings)
    if kind == "trl":
        from proofloop.trainers.sft import train_trl as run
    else:
        from proofloop.trainers.simple import train_simple as run
    return run(base, tokenizer, rows, Path(out_dir), settings, placement, progress)
