#!/usr/bin/env python3
"""Train tokens/s and peak memory of the two trainer paths on the default run's training phase.

The tiny from-scratch model of the default run (bundled problems, size tiny, seed 0) is
fine-tuned on the bundled train problems' (prompt, reference completion) rows, with the default
[train] settings (batch 8, lr 2e-3, warm-up 10), once through TRL's SFTTrainer and once through
the simple loop: same rows, same steps, same threads. Each trial runs in its own process, so
its peak RSS is its own; trials alternate (simple, trl, simple, trl, ...) so that a busy
machine slows both alike.

    python benchmarks/train_speed.py                    # 100 steps, 2 threads, 2 trials each
    python benchmarks/train_speed.py --steps 300 --threads 2 --trials 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_base(out: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The default run's tiny base model and the train rows (prompt, completion) of the bundled problems."""
    from proofloop.problemfile import bundled_problems_dir, load_problems
    from proofloop.prover import get_prover
    from proofloop.tinymodel import default_corpus, init_model

    problems = [p for p in load_problems(bundled_problems_dir(), prover="z3")]
    prover = get_prover("z3")
    train = [p for p in problems if p.split == "train" and p.reference]
    rows = []
    for p in train:
        prompt = prover.prompt(p)
        completion = prover.target(prompt, p.reference)
        if completion is not None:
            rows.append((prompt, completion))
    corpus = default_corpus([p for p in problems if p.split == "train"])
    return init_model(out / "base", corpus, size="tiny", seed=0), rows


def one_trial(base: Path, rows_file: Path, trainer: str, steps: int, threads: int, out: Path) -> dict:
    """Fine-tune once in this process; the result as a dict (tokens/s, wall, peak RSS)."""
    import torch

    from proofloop.train import TrainSettings, train_sft

    torch.set_num_threads(threads)
    rows = [tuple(r) for r in json.loads(rows_file.read_text())]
    settings = TrainSettings(epochs=1000, lr=2e-3, batch_size=8, max_seq_len=256, max_steps=steps, warmup=10,
                             trainer=trainer, device="cpu", dtype="float32")
    started, cpu = time.perf_counter(), time.process_time()
    result = train_sft(base, rows, out, settings)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU seconds (all threads) say more than wall time on a machine shared with other jobs.
    return {"trainer": trainer, "tokens_per_s": result.tokens_per_s, "loop_s": result.seconds, "wall_s": wall,
            "cpu_s": cpu, "tokens_per_cpu_s": result.tokens / cpu,
            "tokens": result.tokens, "loss_first": result.loss_first, "loss_last": result.loss_last,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("TRAINER", "BASE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        trainer, base, rows = args.one
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_trial(Path(base), Path(rows), trainer, args.steps, args.threads, Path(tmp) / "ck")))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base, rows = build_base(Path(tmp))
        rows_file = Path(tmp) / "rows.json"
        rows_file.write_text(json.dumps(rows))
        print(f"rows: {len(rows)}  steps: {args.steps}  batch_size: 8  threads: {args.threads}")
        results: dict[str, list[dict]] = {"simple": [], "trl": []}
        for _ in range(args.trials):
            for trainer in ("simple", "trl"):
                cmd = [sys.executable, __file__, "--steps", str(args.steps), "--threads", str(args.threads),
                       "--one", trainer, str(base), str(rows_file)]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
                if done.returncode != 0:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return 1
                results[trainer].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for trainer, runs in results.items():
        keys = ("tokens_per_s", "loop_s", "wall_s", "cpu_s", "tokens_per_cpu_s", "peak_rss_mb")
        med = {key: statistics.median(r[key] for r in runs) for key in keys}
        print(f"{trainer}_train_tokens_per_s: {med['tokens_per_s']:.0f}")
        print(f"{trainer}_train_tokens_per_cpu_s: {med['tokens_per_cpu_s']:.0f}")
        print(f"{trainer}_cpu_s: {med['cpu_s']:.1f}")
        print(f"{trainer}_loop_s: {med['loop_s']:.1f}")
        print(f"{trainer}_wall_s: {med['wall_s']:.1f}")
        print(f"{trainer}_peak_rss_mb: {med['peak_rss_mb']:.0f}")
        print(f"{trainer}_loss: {runs[0]['loss_first']:.3f} -> {runs[0]['loss_last']:.3f}")
    ratio = statistics.median(r["tokens_per_s"] for r in results["simple"]) / statistics.median(
        r["tokens_per_s"] for r in results["trl"])
    print(f"simple_over_trl_tokens_per_s: {ratio:.2f}")
    cpu_ratio = statistics.median(r["tokens_per_cpu_s"] for r in results["simple"]) / statistics.median(
        r["tokens_per_cpu_s"] for r in results["trl"])
    print(f"simple_over_trl_tokens_per_cpu_s: {cpu_ratio:.2f}")
    print(f"load_average_1min: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
