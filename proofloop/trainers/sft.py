"""TRL's SFTTrainer on the loop's encoded (prompt, completion) rows, for any causal LM.

The rows reach TRL already tokenized, as its prompt-completion form after tokenization
(`input_ids` plus `completion_mask`), with `completion_only_loss=True`: TRL masks the prompt
out of the loss from that mask. Tokenizing here rather than in TRL keeps one encoding for
training and sampling: a generator tokenizes the prompt alone, while TRL tokenizes prompt +
completion together, and byte-level BPE merges tokens across that boundary (a prompt that ends
in a space), so the model would learn continuations of prompts it never sees.

Device and precision come resolved (proofloop.device.Placement): trainable weights in float32
with bf16/fp16 autocast, a frozen LoRA base in the compute dtype, a QLoRA base in NF4.
Under `accelerate launch` the same code trains on every process (DDP or FSDP per the
accelerate config); only the main process writes the checkpoint.
"""

from __future__ import annotations

import gc
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PrinterCallback, ProgressCallback, TrainerCallback, TrainingArguments

from proofloop.device import Placement
from proofloop.trainers.common import IGNORE, Encoded, TrainResult, TrainSettings, diverged, tail_mean
from proofloop.trainers.checkpoint import ADAPTER_DIR, merged_lora, staged, write_model

# transformers 5 renamed gradient_checkpointing (the old name warns on every run); 4.x has only it.
_CHECKPOINTING_KEY = (
    "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
    else "gradient_checkpointing"
)


def train_trl(
    base: str | Path, tokenizer: Any, encoded: list[Encoded], out_dir: Path, settings: TrainSettings,
    placement: Placement, progress: Callable[[int, int, float], None] | None,
) -> TrainResult:
    """Fine-tune (fully or with LoRA) the model at `base` with SFTTrainer; save it to `out_dir`."""
    total = settings.total_steps(len(encoded))
    watch = _Watch(settings, total, progress)
    trainer = make_trainer(base, tokenizer, encoded, out_dir, settings, placement, [watch])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    result = TrainResult(
        steps=len(watch.losses), examples=len(encoded), tokens=trainer.data_collator.tokens, seconds=seconds,
        loss_first=watch.losses[0], loss_last=tail_mean(watch.losses), losses=watch.losses,
    )
    save_trained(trainer, base, tokenizer, out_dir, result, settings, placement)
    if trainer.accelerator.is_main_process:
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)  # the Trainer's own (unused) output dir
    release(trainer, placement)
    return result


def make_trainer(
    base: str | Path, tokenizer: Any, encoded: list[Encoded], out_dir: Path, settings: TrainSettings,
    placement: Placement, callbacks: list[Any],
) -> Any:
    """An SFTTrainer over the encoded rows (prompt tokens masked by `completion_mask`)."""
    import datasets
    from trl import SFTTrainer

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # TRL's dataset passes draw bars over the run's own progress line
    try:
        dataset = datasets.Dataset.from_dict({
            "input_ids": [ids for ids, _ in encoded],
            "completion_mask": [[int(label != IGNORE) for label in labels] for _, labels in encoded],
        })
        trainer = SFTTrainer(
            model=load_model(base, settings, placement),
            args=sft_config(settings, placement, settings.total_steps(len(encoded)), out_dir),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(settings),
            data_collator=_Counting(tokenizer.pad_token_id),
            callbacks=callbacks,
        )
    finally:
        if bars:
            datasets.enable_progress_bars()
    # The run prints its own progress line; the Trainer's printed log dicts would interleave with it.
    for printer in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(printer)
    return trainer


def load_model(base: str | Path, settings: TrainSettings, placement: Placement) -> Any:
    """The model to train: float32 masters for a full fine-tune, the compute dtype (or NF4) for a LoRA base."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": placement.weights_dtype(frozen=settings.lora)}
    if settings.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, placement.dtype),
        )
        from accelerate import PartialState

        # Quantized weights are placed at load time: this process's GPU (its local rank under accelerate).
        kwargs["device_map"] = {"": PartialState().local_process_index}
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if settings.quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    return model


def lora_config(settings: TrainSettings) -> Any:
    """peft's LoraConfig for the [train] lora_* keys, or None for a full fine-tune."""
    if not settings.lora:
        return None
    from peft import LoraConfig

    targets = settings.lora_target_modules
    return LoraConfig(
        r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout, bias="none",
        target_modules=targets if isinstance(targets, str) else list(targets), task_type="CAUSAL_LM",
    )


def sft_config(settings: TrainSettings, placement: Placement, total: int, out_dir: Path) -> Any:
    """SFTConfig: the same optimizer, schedule and clipping as the simple loop, no Trainer-side saving."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out_dir.with_name(out_dir.name + ".trainer")),
        per_device_train_batch_size=settings.batch_size // settings.grad_accum,
        gradient_accumulation_steps=settings.grad_accum,
        max_steps=total,
        learning_rate=settings.lr,
        weight_decay=settings.weight_decay,
        lr_scheduler_type="linear",
        warmup_steps=min(settings.warmup, total - 1),
        max_grad_norm=1.0,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=placement.device == "cpu",
        bf16=placement.dtype == "bfloat16",
        fp16=placement.dtype == "float16",
        **{_CHECKPOINTING_KEY: settings.gradient_checkpointing},
        max_length=settings.max_seq_len,
        completion_only_loss=True,
        train_sampling_strategy="group_by_length",  # like the simple loop: little padding per batch
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must reach _Watch, not be filtered out
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def save_trained(
    trainer: Any, base: str | Path, tokenizer: Any, out_dir: Path, result: TrainResult, settings: TrainSettings,
    placement: Placement,
) -> None:
    """Write the checkpoint on the main process: the (merged) model, and for LoRA the adapter."""
    accelerator = trainer.accelerator
    dtype = placement.weights_dtype(frozen=True)
    if accelerator.distributed_type.name == "FSDP":
        # The weights are sharded: Trainer.save_model gathers them (every process must call it;
        # the main one writes), and the main process builds the checkpoint from that directory.
        gathered = out_dir.with_name(out_dir.name + ".gathered")
        trainer.save_model(str(gathered))
        if accelerator.is_main_process:
            _checkpoint_from_saved(gathered, base, tokenizer, out_dir, result, settings, dtype)
        return
    if not accelerator.is_main_process:
        return
    model = accelerator.unwrap_model(trainer.model)
    model.eval()
    with staged(out_dir) as tmp:
        if settings.lora:
            model.save_pretrained(tmp / ADAPTER_DIR)
            model = merged_lora(model, base, tmp / ADAPTER_DIR, reload=settings.quantization is not None, dtype=dtype)
        write_model(model, tokenizer, tmp, result, dtype=dtype if placement.mixed else None)


def _checkpoint_from_saved(
    saved: Path, base: str | Path, tokenizer: Any, out_dir: Path, result: TrainResult, settings: TrainSettings,
    dtype: Any,
) -> None:
    from transformers import AutoModelForCausalLM

    with staged(out_dir) as tmp:
        if settings.lora:
            saved.rename(tmp / ADAPTER_DIR)
            model = merged_lora(None, base, tmp / ADAPTER_DIR, reload=True, dtype=dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(saved, dtype=dtype)
            shutil.rmtree(saved)
        write_model(model, tokenizer, tmp, result)


def release(trainer: Any, placement: Placement) -> None:
    """Drop the trainer's model, optimizer and cached GPU blocks, so the sampler can have the GPU back."""
    import torch

    trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
    trainer.accelerator.free_memory()
    gc.collect()
    if placement.device == "cuda":
        torch.cuda.empty_cache()


class _Counting:
    """TRL's padding collator that also counts the real (unpadded) tokens it hands out."""

    def __init__(self, pad_id: int) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self._inner = DataCollatorForLanguageModeling(pad_token_id=pad_id)
        self.tokens = 0

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self._inner(examples)
        self.tokens += int(batch["attention_mask"].sum())
        return batch


class _Watch(TrainerCallback):
    """Collects each optimizer step's loss, reports progress, and stops on a NaN or infinite loss."""

    def __init__(self, settings: TrainSettings, total: int, progress: Callable[[int, int, float], None] | None):
        self.settings, self.total, self.progress = settings, total, progress
        self.losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            raise diverged(loss, state.global_step, self.total, self.settings)
        self.losses.append(loss)
        if self.progress is not None:
            self.progress(state.global_step, self.total, loss)
