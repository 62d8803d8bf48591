"""Writing a checkpoint whole or not at all, and merging a LoRA adapter into it.

A checkpoint is a `save_pretrained` directory that transformers and vLLM load unchanged, with
the run's TrainResult in train_stats.json. A LoRA run also keeps its adapter alone in
`adapter/` (a peft directory: `PeftModel.from_pretrained(base, ckpt / "adapter")`), while the
top level holds the merged model, so the next round samples from it like from any model.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proofloop.trainers.common import TrainResult, save_result

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"


@contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """Yield OUT.tmp to write into, then rename it to OUT: a checkpoint is whole or absent."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    yield tmp
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log.info("saved checkpoint %s", out_dir)


def write_model(model: Any, tokenizer: Any, where: Path, result: TrainResult, *, dtype: Any = None) -> None:
    """save_pretrained the model (cast to `dtype` if given) and tokenizer, and the run's stats."""
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(where)
    tokenizer.save_pretrained(where)
    save_result(where, result)


def merged_lora(model: Any, base: str | Path, adapter: Path, *, reload: bool, dtype: Any) -> Any:
    """The base model with the trained adapter folded into its weights.

    With `reload` (a QLoRA base, which cannot take the update exactly, or an adapter gathered
    from FSDP shards) the base is loaded again in `dtype` on the CPU (host memory, not the GPU
    the sampler needs next) and the saved adapter merged into that; otherwise the adapter
    merges into `model`, a PeftModel, in place.
    """
    if not reload:
        return model.merge_and_unload()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    full = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, device_map={"": "cpu"})
    return PeftModel.from_pretrained(full, adapter).merge_and_unload()
