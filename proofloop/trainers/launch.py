"""Training on several GPUs: the TRL path in `accelerate launch` worker processes.

With `[train] accelerate_config` set, `train_sft` writes the encoded rows and settings to a
spec file next to the checkpoint and runs

    accelerate launch --config_file CONFIG -m proofloop.trainers.launch SPEC

which starts one process per GPU (DDP, or FSDP per the config); each process runs the same
SFTTrainer, and the main one writes the checkpoint, from which the parent reads the result.
The loop's own process holds no GPU memory meanwhile (the sampler was closed before training).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from proofloop.errors import ProofloopError
from proofloop.trainers.common import Encoded, TrainResult, TrainSettings, load_result

log = logging.getLogger(__name__)


def train_launched(base: str | Path, encoded: list[Encoded], out_dir: Path, settings: TrainSettings) -> TrainResult:
    """Run the TRL path under `accelerate launch`; the result the main worker saved with the checkpoint."""
    spec = out_dir.with_name(out_dir.name + ".spec.json")
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"base": str(base), "out_dir": str(out_dir), "settings": asdict(settings),
                                "rows": encoded}))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(settings.accelerate_config),
           "-m", "proofloop.trainers.launch", str(spec)]
    log.info("train: %s", " ".join(cmd))
    code, err = _run(cmd, settings.launch_timeout_s)
    result = load_result(out_dir)
    if code != 0 or result is None:
        tail = " | ".join(line for line in err.strip().splitlines()[-3:])
        raise ProofloopError(
            f"train: `accelerate launch --config_file {settings.accelerate_config}` failed (exit {code}): {tail}"
        )
    spec.unlink()
    return result


def _run(cmd: list[str], timeout_s: float) -> tuple[int, str]:
    """Run cmd in its own process group; on timeout the whole group (every worker) is killed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise ProofloopError(
            f"train: the launched training ran past train.launch_timeout_s = {timeout_s:g} s and was killed; "
            f"last output: {err.strip().splitlines()[-1:] or ['none']}"
        ) from None
    return proc.returncode, err


def worker(spec_path: Path) -> None:
    """One `accelerate launch` process: train on this process's device; the main one saves."""
    from transformers import AutoTokenizer

    from proofloop.device import training_placement
    from proofloop.trainers.sft import train_trl

    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    settings = TrainSettings.from_section(SimpleNamespace(**spec["settings"]))  # JSON lists back to tuples
    placement = training_placement(settings.device, settings.dtype, quantization=settings.quantization)
    tokenizer = AutoTokenizer.from_pretrained(spec["base"])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [(ids, labels) for ids, labels in spec["rows"]]
    train_trl(spec["base"], tokenizer, rows, Path(spec["out_dir"]), settings, placement, None)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
