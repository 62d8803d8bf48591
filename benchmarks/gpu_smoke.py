#!/usr/bin/env python3
"""Smoke run on one CUDA GPU: vLLM sampling, bf16 training (full and LoRA), a 2-round `proofloop run`.

Uses the from-scratch `base100m` model (about 100M parameters; no weights are downloaded):

1. sample: vLLM samples n completions for bundled train prompts -> samples_per_s; then the
   engine is closed and the GPU memory left in use is printed (the trainer's share);
2. train_full / train_lora: SFT through TRL in bf16 on the bundled references -> train_tokens_per_s;
3. run: `proofloop run` with backend = "vllm", rounds 0 and 1, small budget -> its own
   samples_per_s and train_tokens_per_s lines.

Every phase prints `key: value` lines, including `PHASE_peak_gpu_mb`: the most device memory in
use during the phase (all processes: vLLM's engine core runs in its own), sampled every 0.1 s.
A phase that fails prints `PHASE_error: ...` and the others still run; the exit code is 0 only
if all of them worked. Without a CUDA GPU it prints one line and exits 1.

    python benchmarks/gpu_smoke.py                  # everything, about 3-5 minutes on one GPU
    python benchmarks/gpu_smoke.py --steps 30 --skip run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("sample", "train_full", "train_lora", "run")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base100m", help="from-scratch model preset (proofloop.tinymodel.SIZES)")
    parser.add_argument("--prompts", type=int, default=64, help="bundled train prompts to sample")
    parser.add_argument("--n", type=int, default=16, help="samples per prompt")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per training phase")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--skip", action="append", default=[], choices=PHASES, help="leave a phase out (repeatable)")
    parser.add_argument("--run-timeout", type=float, default=420.0, help="seconds allowed for the `proofloop run`")
    return parser.parse_args(argv)


class PeakGpuMemory:
    """Most device memory in use (total - free, every process) while the block runs, in MiB."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _used_mb(self) -> float:
        import torch

        free, total = torch.cuda.mem_get_info()
        return (total - free) / 2**20

    def __enter__(self) -> "PeakGpuMemory":
        def poll() -> None:
            while not self._stop.is_set():
                self.peak_mb = max(self.peak_mb, self._used_mb())
                self._stop.wait(0.1)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._used_mb())


def bundled_rows(limit: int) -> list[tuple[str, str]]:
    """(prompt, reference completion) of bundled train problems."""
    from proofloop.problemfile import bundled_problems_dir, load_problems
    from proofloop.prover import get_prover

    prover = get_prover("z3")
    rows = []
    for p in load_problems(bundled_problems_dir(), prover="z3"):
        if p.split == "train" and p.reference:
            prompt = prover.prompt(p)
            target = prover.target(prompt, p.reference)
            if target is not None:
                rows.append((prompt, target))
    return rows[:limit]


def make_model(out: Path, size: str) -> Path:
    from proofloop.problemfile import bundled_problems_dir, load_problems
    from proofloop.tinymodel import default_corpus, init_model

    problems = [p for p in load_problems(bundled_problems_dir(), prover="z3") if p.split == "train"]
    return init_model(out, default_corpus(problems), size=size, seed=0)


def phase_sample(model: Path, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from proofloop.generate import GeneratorConfig, SamplingParams, make_generator

    prompts = [p for p, _ in bundled_rows(args.prompts)]
    cfg = GeneratorConfig(backend="vllm", model=str(model), dtype="bfloat16",
                          gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=1024)
    gen = make_generator(cfg)
    params = SamplingParams(temperature=0.8, max_new_tokens=48, seed=0)
    gen.generate(prompts[:2], 2, params)  # warm-up: the first call compiles kernels
    started = time.perf_counter()
    out = gen.generate(prompts, args.n, params)
    seconds = time.perf_counter() - started
    samples = sum(len(cs) for cs in out)
    tokens = sum(c.num_tokens for cs in out for c in cs)
    gen.close()
    time.sleep(2.0)  # the engine-core process exits asynchronously
    free, total = torch.cuda.mem_get_info()
    return {"samples_per_s": samples / seconds, "sample_tokens_per_s": tokens / seconds,
            "gpu_mb_after_close": (total - free) / 2**20}


def phase_train(model: Path, args: argparse.Namespace, lora: bool) -> dict[str, float]:
    import torch

    from proofloop.train import TrainSettings, train_sft

    settings = TrainSettings(
        epochs=1000, lr=1e-4 if not lora else 1e-3, batch_size=args.batch_size, max_seq_len=512, max_steps=args.steps,
        warmup=5, trainer="trl", device="cuda", dtype="bfloat16", lora_r=16 if lora else None,
    )
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_sft(model, bundled_rows(10**6), Path(tmp) / "ck", settings)
    return {"train_tokens_per_s": result.tokens_per_s, "train_loss_first": result.loss_first,
            "train_loss_last": result.loss_last, "torch_peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20}


def phase_run(model: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "generator.backend": "vllm", "generator.model": str(model), "generator.dtype": "bfloat16",
            "generator.gpu_memory_utilization": args.gpu_memory_utilization, "generator.max_model_len": 1024,
            "problems.train_limit": 48, "problems.heldout_limit": 16, "loop.rounds": 1, "sampling.n": 8,
            "sampling.eval_n": 8, "train.max_steps": args.steps, "train.batch_size": args.batch_size,
            "train.lr": 1e-4, "train.device": "cuda", "train.dtype": "bfloat16",
        }
        cmd = [sys.executable, "-m", "proofloop.cli", "run", "--out-dir", tmp, "--no-report"]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={value}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.run_timeout, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"proofloop run exited {done.returncode}: {done.stderr.strip().splitlines()[-3:]}")
    values, r = {}, "?"
    for line in done.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if key == "round":
            r = value
        elif sep and key in ("samples_per_s", "train_tokens_per_s", "heldout_pass@1", "time_train_s"):
            values[f"round{r}_{key}"] = float(value)
    if not values:
        raise RuntimeError(f"proofloop run printed no round lines: {done.stdout[-300:]!r}")
    return values


def measure(name: str, fn: Callable[[], dict[str, float]]) -> bool:
    """Run one phase under the memory sampler and print its lines; False if it failed."""
    try:
        with PeakGpuMemory() as peak:
            values = fn()
    except Exception as e:  # noqa: BLE001 - a smoke run reports every phase, whatever breaks
        print(f"{name}_error: {type(e).__name__}: {' '.join(str(e).split())[:400]}", flush=True)
        traceback.print_exc(file=sys.stderr)
        return False
    for key, value in values.items():
        print(f"{name}_{key}: {value:.2f}", flush=True)
    print(f"{name}_peak_gpu_mb: {peak.peak_mb:.0f}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_smoke: no CUDA GPU visible to torch {torch.__version__}; nothing measured")
        return 1
    print(f"gpu: {torch.cuda.get_device_name(0)}  total_mb: {torch.cuda.mem_get_info()[1] / 2**20:.0f}", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        model = make_model(Path(tmp) / "model", args.size)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
        print(f"model: {args.size}  layers: {config.num_hidden_layers}  hidden: {config.hidden_size}  "
              f"vocab: {config.vocab_size}", flush=True)
        phases = {
            "sample": lambda: phase_sample(model, args),
            "train_full": lambda: phase_train(model, args, lora=False),
            "train_lora": lambda: phase_train(model, args, lora=True),
            "run": lambda: phase_run(model, args),
        }
        for name, fn in phases.items():
            if name not in args.skip:
                ok = measure(name, fn) and ok
    print(f"gpu_smoke: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
