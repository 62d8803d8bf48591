"""The two ways to run a fine-tuning step loop behind `proofloop.train.train_sft`.

- `sft.py`: TRL's SFTTrainer, for any model: device and precision, gradient accumulation and
  checkpointing, LoRA and QLoRA through peft, multi-GPU through accelerate.
- `simple.py`: a plain PyTorch loop with length-bucketed batches (full fine-tuning, one device), an
  independent implementation that the tests hold TRL's path against (docs/models.md gives the
  measured numbers of both).

`pick_trainer` decides which one runs (TRL unless `simple` is asked for); both take the same
encoded rows and settings and write the same checkpoint layout (`checkpoint.py`).
"""

from __future__ import annotations

from typing import Any


def check_train_options(t: Any) -> None:
    """Reject [train] combinations no trainer can honour (ValueError naming the key first)."""
    if t.quantization is not None and t.lora_r is None:
        raise ValueError(
            f"quantization: {t.quantization!r} quantizes a frozen base, so it needs LoRA; set lora_r (e.g. 16)"
        )
    if t.batch_size % t.grad_accum:
        raise ValueError(
            f"grad_accum: batch_size ({t.batch_size}) must be a multiple of grad_accum ({t.grad_accum}); "
            "batch_size is the sequences per optimizer step, split into grad_accum micro-batches"
        )
    if t.trainer == "simple":
        asked = [name for name, on in (("lora_r", t.lora_r is not None), ("grad_accum", t.grad_accum > 1),
                                        ("gradient_checkpointing", t.gradient_checkpointing),
                                        ("accelerate_config", t.accelerate_config is not None)) if on]
        if asked:
            raise ValueError(f"trainer: 'simple' does not do {', '.join(asked)}; use trainer = \"trl\" (or \"auto\")")


def pick_trainer(settings: Any) -> str:
    """'trl' or 'simple': the one asked for; 'auto' is TRL.

    TRL's SFTTrainer trains the tiny CPU model of the default run as fast as the plain loop
    (docs/models.md, "Measured on CPU"), so every run takes it unless `simple` is asked for.
    """
    return "trl" if settings.trainer == "auto" else settings.trainer
