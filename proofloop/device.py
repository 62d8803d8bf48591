"""Where a model runs and in what precision: the one place that decides, for sampling and training.

Like nanoGPT's three lines at the top of train.py: a device ("cpu" or "cuda"), a compute dtype,
and from those whether autocast is on. `auto` means the best the machine has: a CUDA GPU when
torch sees one, bfloat16 on GPUs that support it (float16 on older ones), float32 on CPU.
A request the machine cannot honour (a GPU that is not there, bitsandbytes that is not
installed) is a ConfigError naming the config key, raised before any model is loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from proofloop.errors import ConfigError

DTYPE_NAMES = ("float32", "bfloat16", "float16")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str, key: str = "generator.device") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is a ConfigError."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"{key} = {device!r}; choose auto, cpu or cuda")
    if device == "cuda" and not cuda_available():
        import torch

        raise ConfigError(
            f"{key} = 'cuda' but no CUDA GPU is visible to torch (torch {torch.__version__}); "
            'set device = "cpu" or "auto"'
        )
    return device


def resolve_dtype_name(dtype: str, device: str, key: str = "generator.dtype") -> str:
    """'auto' -> float32 on CPU, bfloat16 on GPUs that have it, else float16."""
    if dtype != "auto":
        if dtype not in DTYPE_NAMES:
            raise ConfigError(f"{key} = {dtype!r}; choose auto, float32, bfloat16 or float16")
        return dtype
    if device == "cpu":
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def resolve_dtype(dtype: str, device: str, key: str = "generator.dtype") -> Any:
    """The torch dtype for `dtype` ('auto' resolved as in resolve_dtype_name)."""
    import torch

    return getattr(torch, resolve_dtype_name(dtype, device, key))


@dataclass(frozen=True)
class Placement:
    """A resolved device and compute dtype for one training run.

    Trainable weights stay in float32 whatever the compute dtype (mixed precision: autocast
    runs the matmuls in bf16/fp16, the optimizer updates float32 masters, so small updates are
    not lost to rounding); frozen weights (a LoRA base) are stored in the compute dtype itself.
    """

    device: str
    dtype: str

    @property
    def mixed(self) -> bool:
        return self.dtype != "float32"

    def weights_dtype(self, frozen: bool) -> Any:
        import torch

        return getattr(torch, self.dtype) if frozen else torch.float32


def training_placement(device: str, dtype: str, *, quantization: str | None = None) -> Placement:
    """Resolve `[train] device/dtype/quantization` for this machine, or say why it cannot run here."""
    where = resolve_device(device, "train.device")
    name = resolve_dtype_name(dtype, where, "train.dtype")
    if where == "cpu" and name == "float16":
        raise ConfigError(
            "train.dtype = 'float16' on device 'cpu': CPU autocast has no float16 loss scaling; "
            'use dtype = "bfloat16" or "float32"'
        )
    if quantization is not None:
        require_bitsandbytes("train.quantization")
        if where != "cuda":
            raise ConfigError(
                f"train.quantization = {quantization!r} needs a CUDA GPU (bitsandbytes 4-bit kernels); "
                "unset it to train the full-precision model on CPU"
            )
    return Placement(where, name)


def require_bitsandbytes(key: str) -> None:
    """ConfigError unless bitsandbytes (QLoRA's 4-bit kernels) is importable."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            f"{key} = '4bit' needs the bitsandbytes package, which is not installed; "
            "`pip install bitsandbytes` on a CUDA machine, or unset quantization (plain LoRA)"
        )
