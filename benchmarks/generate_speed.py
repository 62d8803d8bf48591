"""Tokens/s of the hf backend's batched sampling vs one `model.generate` call per sample.

Creates the embedded tiny model in a temporary directory (tokenizer trained on the bundled
problems), then samples 16 completions for each of 32 bundled problem prompts. Both sides use
the same model, max_new_tokens and sampling (temperature 1, no top-k/top-p), and count only
the tokens each completion really generated (up to and including EOS). The work is interleaved
in blocks (batched, then sequential, per block of prompts) so that load from other processes
on the machine falls on both sides alike. The sequential side runs a fixed subset of samples
per prompt and is extrapolated by its measured tokens/s; the output says so.

    .venv/bin/python benchmarks/generate_speed.py [--prompts 32] [--samples 16] [--sequential-samples 2]

Prints `generate_speed: batched=... tok/s sequential=... tok/s ratio=...x` (target >= 5x) and
`peak_rss_mb: ...` (target < 2048).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def bundled_prompts(count: int) -> tuple[list[str], list[str]]:
    """`count` prompts of bundled problems, and the tokenizer corpus of all bundled problems."""
    from proofloop.problemfile import bundled_problems_dir, load_problems
    from proofloop.prover import get_prover
    from proofloop.tinymodel import default_corpus

    problems = load_problems(bundled_problems_dir())
    prompts = [get_prover(p.prover).prompt(p) for p in problems]
    if len(prompts) < count:
        sys.exit(f"generate_speed: only {len(prompts)} bundled problems, asked for {count} prompts")
    return prompts[:count], default_corpus(problems)


def sequential_tokens(model, tokenizer, prompt: str, samples: int, max_new_tokens: int) -> int:
    """Generate `samples` completions of `prompt` one `generate` call each; tokens generated."""
    import torch

    eos = tokenizer.eos_token_id
    total = 0
    with torch.inference_mode():
        inputs = tokenizer(prompt, return_tensors="pt")
        for _ in range(samples):
            out = model.generate(
                **inputs,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
            ids = out[0, inputs["input_ids"].shape[1] :].tolist()
            total += ids.index(eos) + 1 if eos in ids else len(ids)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--samples", type=int, default=16, help="samples per prompt (batched side)")
    parser.add_argument("--sequential-samples", type=int, default=2, help="samples per prompt timed sequentially")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block", type=int, default=8, help="prompts per interleaved block")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from proofloop.generate.base import SamplingParams
    from proofloop.generate.hf import HFGenerator
    from proofloop.tinymodel import init_model

    torch.manual_seed(0)
    prompts, corpus = bundled_prompts(args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = init_model(Path(tmp) / "tiny", corpus, size="tiny", seed=0)
        gen = HFGenerator.load(str(model_dir), device="cpu", batch_size=args.batch_size)
        params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens, seed=0)
        gen.generate(prompts[:1], 2, params)  # warm-up: first-call allocations and kernel selection
        batched_tokens = batched_s = seq_tokens = seq_s = 0.0
        for start in range(0, len(prompts), args.block):
            block = prompts[start : start + args.block]
            t0 = time.perf_counter()
            out = gen.generate(block, args.samples, params)
            batched_s += time.perf_counter() - t0
            batched_tokens += sum(c.num_tokens for cs in out for c in cs)
            t0 = time.perf_counter()
            for prompt in block:
                seq_tokens += sequential_tokens(
                    gen.model, gen.tokenizer, prompt, args.sequential_samples, args.max_new_tokens
                )
            seq_s += time.perf_counter() - t0

    batched = batched_tokens / batched_s
    sequential = seq_tokens / seq_s
    total_samples = args.prompts * args.samples
    timed = args.prompts * args.sequential_samples
    print(f"load_average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share these cores)")
    print(
        f"setup: tiny model, {args.prompts} prompts x {args.samples} samples, max_new_tokens={args.max_new_tokens}, "
        f"batch_size={args.batch_size}, torch threads={torch.get_num_threads()}"
    )
    print(f"batched: {int(batched_tokens)} tokens in {batched_s:.1f}s")
    print(
        f"sequential: {int(seq_tokens)} tokens in {seq_s:.1f}s over {timed} of {total_samples} samples "
        f"(timed subset; the full sequential run extrapolates to {total_samples / timed * seq_s:.0f}s)"
    )
    ratio = batched / sequential
    print(f"generate_speed: batched={batched:.0f} tok/s sequential={sequential:.0f} tok/s ratio={ratio:.1f}x")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(vllm_line(prompts, corpus, args.samples, args.max_new_tokens))


def vllm_line(prompts: list[str], corpus: list[str], samples: int, max_new_tokens: int) -> str:
    """`vllm_speed: ... tok/s` for the same workload on a GPU, or why it was not run."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return "vllm_speed: not run (no CUDA GPU on this machine)"
    if importlib.util.find_spec("vllm") is None:
        return "vllm_speed: not run (vllm is not installed: pip install 'proofloop[vllm]')"
    from proofloop.generate import GeneratorConfig, make_generator
    from proofloop.generate.base import SamplingParams
    from proofloop.tinymodel import init_model

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = init_model(Path(tmp) / "tiny", corpus, size="tiny", seed=0)
        gen = make_generator(GeneratorConfig(backend="vllm", model=str(model_dir), gpu_memory_utilization=0.5))
        params = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens, seed=0)
        gen.generate(prompts[:1], 2, params)
        t0 = time.perf_counter()
        out = gen.generate(prompts, samples, params)
        seconds = time.perf_counter() - t0
    tokens = sum(c.num_tokens for cs in out for c in cs)
    device = torch.cuda.get_device_name()
    return f"vllm_speed: {tokens / seconds:.0f} tok/s ({tokens} tokens in {seconds:.2f}s on {device})"


if __name__ == "__main__":
    main()
