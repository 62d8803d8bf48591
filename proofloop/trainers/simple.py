"""The light step loop: AdamW, linear warm-up and decay, length-bucketed batches.

It does what the TRL path does for a full fine-tune (same optimizer, schedule, clipping and
completion-only loss) with none of the Trainer machinery around each step; docs/models.md
gives the measured speed of both paths. It honours the device and precision it is given;
LoRA, accumulation and checkpointing are the TRL path's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from proofloop.device import Placement
from proofloop.trainers.common import IGNORE, Encoded, TrainResult, TrainSettings, diverged, tail_mean
from proofloop.trainers.checkpoint import staged, write_model


def length_bucketed(encoded: list[Encoded], batch_size: int, gen) -> list[list[int]]:
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


def batches(encoded: list[Encoded], settings: TrainSettings, pad_id: int) -> Iterator[tuple[int, int, Any, Any, Any]]:
    """(step, total, ids, labels, mask) for every optimizer step, right-padded tensors."""
    import torch

    gen = torch.Generator().manual_seed(settings.seed)
    total = settings.total_steps(len(encoded))
    step = 0
    while True:
        for batch in length_bucketed(encoded, settings.batch_size, gen):
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


def train_simple(
    base: str | Path, tokenizer: Any, encoded: list[Encoded], out_dir: Path, settings: TrainSettings,
    placement: Placement, progress: Callable[[int, int, float], None] | None,
) -> TrainResult:
    """Full fine-tuning of the model at `base` on encoded rows; saves it to `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).to(placement.device)
    model.train()
    steps_total = settings.total_steps(len(encoded))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, min(settings.warmup, steps_total - 1), steps_total)
    autocast = torch.autocast(placement.device, dtype=getattr(torch, placement.dtype), enabled=placement.mixed)
    scaler = torch.amp.GradScaler(placement.device, enabled=placement.dtype == "float16")
    losses: list[float] = []
    tokens = 0
    started = time.perf_counter()
    for step, total, ids, labels, mask in batches(encoded, settings, tokenizer.pad_token_id):
        ids, labels, mask = ids.to(placement.device), labels.to(placement.device), mask.to(placement.device)
        with autocast:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if not torch.isfinite(loss):
            raise diverged(loss.item(), step + 1, total, settings)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        tokens += int(mask.sum())
        if progress is not None:
            progress(step + 1, total, losses[-1])
    result = TrainResult(
        steps=len(losses), examples=len(encoded), tokens=tokens, seconds=time.perf_counter() - started,
        loss_first=losses[0], loss_last=tail_mean(losses), losses=losses,
    )
    model.eval()
    with staged(out_dir) as tmp:
        write_model(model, tokenizer, tmp, result, dtype=placement.weights_dtype(frozen=True) if placement.mixed else None)
    return result
