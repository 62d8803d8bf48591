"""What the trainers and `proofloop.train` share: settings, results, encoded rows.

`TrainSettings` takes its defaults and its option checks from the run config's `[train]`
section (`proofloop.config.TrainSection`), the one place they are written down.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from proofloop.config import TrainSection, validate_section
from proofloop.errors import ProofloopError

STATS_FILE = "train_stats.json"
IGNORE = -100


class TrainingDiverged(ProofloopError):
    """The training loss became NaN or infinite."""


def _default(name: str) -> Any:
    value = TrainSection.model_fields[name].default
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class TrainSettings:
    """The knobs of one fine-tuning run: the [train] section's training keys (same defaults, same
    checks: a bad combination raises ConfigError naming the key) plus the seed."""

    epochs: float = _default("epochs")
    lr: float = _default("lr")
    batch_size: int = _default("batch_size")
    max_seq_len: int = _default("max_seq_len")
    max_steps: int | None = _default("max_steps")
    weight_decay: float = _default("weight_decay")
    warmup: int = _default("warmup")
    seed: int = 0
    trainer: str = _default("trainer")
    device: str = _default("device")
    dtype: str = _default("dtype")
    grad_accum: int = _default("grad_accum")
    gradient_checkpointing: bool = _default("gradient_checkpointing")
    lora_r: int | None = _default("lora_r")
    lora_alpha: int = _default("lora_alpha")
    lora_dropout: float = _default("lora_dropout")
    lora_target_modules: str | tuple[str, ...] = _default("lora_target_modules")
    quantization: str | None = _default("quantization")
    accelerate_config: str | None = _default("accelerate_config")
    launch_timeout_s: float = _default("launch_timeout_s")

    def __post_init__(self) -> None:
        keys = {k: v for k, v in asdict(self).items() if k != "seed"}
        if isinstance(keys["lora_target_modules"], tuple):
            keys["lora_target_modules"] = list(keys["lora_target_modules"])
        validate_section(TrainSection, keys, "train")

    @classmethod
    def from_section(cls, section: TrainSection, **overrides: Any) -> "TrainSettings":
        """Settings from a run config's [train] section, with overrides."""
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


def tail_mean(losses: Sequence[float]) -> float:
    """The mean of the last few losses: a single step's loss is noisy on tiny batches."""
    tail = losses[-max(1, min(5, len(losses) // 5)) :]
    return sum(tail) / len(tail)


def diverged(loss: float, step: int, total: int, settings: TrainSettings) -> TrainingDiverged:
    return TrainingDiverged(f"train: loss is {loss} at step {step}/{total} (lr={settings.lr}); lower train.lr")


def save_result(checkpoint: Path, result: TrainResult) -> None:
    """Write the TrainResult of a checkpoint (what `load_result` reads back)."""
    (Path(checkpoint) / STATS_FILE).write_text(json.dumps(asdict(result)) + "\n")


def load_result(checkpoint: Path) -> TrainResult | None:
    """The TrainResult saved with a complete checkpoint, or None if there is none."""
    path = Path(checkpoint) / STATS_FILE
    if not path.is_file():
        return None
    return TrainResult(**json.loads(path.read_text()))
