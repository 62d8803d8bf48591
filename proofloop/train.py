"""Supervised fine-tuning on verified (prompt, candidate) pairs, with transformers.

The loss covers the candidate tokens (and the end-of-sequence token after them) only: the
model learns to answer a prompt, not to reproduce prompts. Checkpoints are written with
`save_pretrained` into a temporary directory and renamed into place, so a checkpoint
directory either holds a complete model or does not exist.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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


def _length_bucketed(encoded: list[tuple[list[int], list[int]]], batch_size: int, gen) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length within windows of 8 batches.

    Sequences of similar length share a batch, so little of each step is spent on padding
    (prompts vary from tens to hundreds of tokens); the batch order is shuffled again.
    """
    import torch

    order = torch.randperm(len(encoded), generator=gen).tolist()
    window = batch_size * 8
    batches = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=lambda i: len(encoded[i][0]))
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def _batches(encoded: list[tuple[list[int], list[int]]], settings: TrainSettings, pad_id: int):
    import torch

    gen = torch.Generator().manual_seed(settings.seed)
    steps_per_epoch = math.ceil(len(encoded) / settings.batch_size)
    total = max(1, math.ceil(settings.epochs * steps_per_epoch))
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    step = 0
    while True:
        for batch in _length_bucketed(encoded, settings.batch_size, gen):
            if step >= total:
                return
            chunk = [encoded[i] for i in batch]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (x, y) in enumerate(chunk):
                ids[row, : len(x)] = torch.tensor(x)
                labels[row, : len(y)] = torch.tensor(y)
                mask[row, : len(x)] = 1
            yield step, total, ids, labels, mask
            step += 1


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
    encode: Callable[[Any], list[tuple[list[int], list[int]]]],
    out_dir: Path,
    settings: TrainSettings,
    progress: Callable[[int, int, float], None] | None,
) -> TrainResult:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.train()
    encoded = encode(tokenizer)
    steps_total = _total_steps(len(encoded), settings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, min(settings.warmup, steps_total - 1), steps_total)
    losses: list[float] = []
    tokens = 0
    started = time.perf_counter()
    for step, total, ids, labels, mask in _batches(encoded, settings, tokenizer.pad_token_id):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"train: loss is {loss.item()} at step {step + 1}/{total} (lr={settings.lr}); lower train.lr"
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        tokens += int(mask.sum())
        if progress is not None:
            progress(step + 1, total, losses[-1])
    seconds = time.perf_counter() - started
    result = TrainResult(
        steps=len(losses),
        examples=len(encoded),
        tokens=tokens,
        seconds=seconds,
        loss_first=losses[0],
        loss_last=_tail_mean(losses),
        losses=losses,
    )
    model.eval()
    save_atomically(model, tokenizer, Path(out_dir), result)
    return result


def _total_steps(n: int, settings: TrainSettings) -> int:
    total = max(1, math.ceil(settings.epochs * math.ceil(n / settings.batch_size)))
    return min(total, settings.max_steps) if settings.max_steps is not None else total


def _tail_mean(losses: list[float]) -> float:
    # A single step's loss is noisy on tiny batches; the last few steps say more.
    tail = losses[-max(1, min(5, len(losses) // 5)) :]
    return sum(tail) / len(tail)


def save_atomically(model, tokenizer, out_dir: Path, result: TrainResult) -> None:
    """save_pretrained into OUT.tmp, then rename to OUT: a checkpoint is whole or absent."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / STATS_FILE).write_text(json.dumps(asdict(result)) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log.info("saved checkpoint %s", out_dir)


def load_result(checkpoint: Path) -> TrainResult | None:
    """The TrainResult saved with a complete checkpoint, or None if there is none."""
    path = Path(checkpoint) / STATS_FILE
    if not path.is_file():
        return None
    return TrainResult(**json.loads(path.read_text()))
