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

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from proofloop.errors import ProofloopError

log = logging.getLogger(__name__)

STATS_FILE = "train_stats.json"
IGNORE = -100


class TrainingDiverged(ProofloopError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainSettings:
    """The knobs of one fine-tuning run (see the [train] section of the run config)."""

    epochs: float = 3.0
    lr: float = 1e-3
    batch_size: int = 16
    max_seq_len: int = 192
    max_steps: int | None = None
    weight_decay: float = 0.0
    warmup: int = 5
    seed: int = 0
    trainer: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    grad_accum: int = 1
    gradient_checkpointing: bool = False
    lora_r: int | None = None
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: str | tuple[str, ...] = "all-linear"
    quantization: str | None = None
    accelerate_config: str | None = None
    launch_timeout_s: float = 86400.0

    @classmethod
    def from_section(cls, section: Any, **overrides: Any) -> "TrainSettings":
        """Settings from a run config's [train] section (a TrainSection), with overrides."""
        names = {f.name for f in fields(cls)}
        values = {name: getattr(section, name) for name in names if hasattr(section, name)}
        if isinstance(values.get("lora_target_modules"), list):
            values["lora_target_modules"] = tuple(values["lora_target_modules"])
        if values.get("accelerate_config") is not None:
            values["accelerate_config"] = str(values["accelerate_config"])
        return cls(**{**values, **overrides})

    @property
    def lora(self) -> bool:
        return self.lora_r is not None

    def total_steps(self, n: int) -> int:
        """Optimizer steps for n examples: epochs over them, capped by max_steps."""
        total = max(1, math.ceil(self.epochs * math.ceil(n / self.batch_size)))
        return min(total, self.max_steps) if self.max_steps is not None else total


@dataclass(frozen=True)
class TrainResult:
    """What a fine-tuning run did: losses, steps, tokens and time."""

    steps: int
    examples: int
    tokens: int
    seconds: float
    loss_first: float
    loss_last: float
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


Encoded = tuple[list[int], list[int]]  # (token ids, labels with IGNORE on the prompt)


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


def tail_mean(losses: Sequence[float]) -> float:
    """The mean of the last few losses: a single step's loss is noisy on tiny batches."""
    tail = losses[-max(1, min(5, len(losses) // 5)) :]
    return sum(tail) / len(tail)


def diverged(loss: float, step: int, total: int, settings: TrainSettings) -> TrainingDiverged:
    return TrainingDiverged(f"train: loss is {loss} at step {step}/{total} (lr={settings.lr}); lower train.lr")


def load_result(checkpoint: Path) -> TrainResult | None:
    """The TrainResult saved with a complete checkpoint, or None if there is none."""
    path = Path(checkpoint) / STATS_FILE
    if not path.is_file():
        return None
    return TrainResult(**json.loads(path.read_text()))
