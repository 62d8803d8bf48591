#!/usr/bin/env python3
"""Copy accuracy of the tiny model with numerals in its prompts against literal placeholders.

Many answers copy constants out of the constraints. For each prompt style the script builds a
fresh tiny model (tokenizer on that style's corpus), fine-tunes it on the reference solutions of
the generated train problems whose references use a numeral other than 0 or 1, samples the
held-out problems of that kind, and prints:

- copy accuracy: the share of samples whose numerals (after placeholders are written back)
  are exactly the reference's numerals, as a multiset;
- verified: the share of samples the checker verifies.

    python benchmarks/copy_accuracy.py                 # 300 steps, 4 samples per held-out problem
    python benchmarks/copy_accuracy.py --steps 150 --samples 2
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from proofloop.generate import GeneratorConfig, SamplingParams, make_generator
from proofloop.problemfile import bundled_problems_dir, load_problems
from proofloop.tinymodel import init_model
from proofloop.train import TrainSettings, train_sft
from provers.z3 import Z3Prover
from provers.z3 import prompt as z3prompt
from provers.z3.candidate import extract as extract_definitions

NUMERAL = re.compile(r"(?<![\w.])([0-9]+)(?![\w.])")
PROVER = Z3Prover()


def numerals(text: str) -> Counter:
    """Numerals other than 0 and 1 in a candidate's body (its header has none)."""
    return Counter(n for n in NUMERAL.findall(text) if int(n) > 1)


def prompt_for(problem, placeholders: bool) -> str:
    return z3prompt.prompt(problem.text, PROVER.parsed(problem), literals=placeholders)


def completion_of(prompt: str, reference: str) -> str | None:
    return z3prompt.target(prompt, reference)


def candidate_of(completion: str, prompt: str) -> str:
    return z3prompt.unplace(extract_definitions(z3prompt.complete(completion, prompt)), prompt)


def measure(train, heldout, placeholders: bool, args, work: Path) -> tuple[float, float, float]:
    """(copy accuracy, verified share, seconds) for one prompt style."""
    started = time.perf_counter()
    pairs = [(prompt_for(p, placeholders), p.reference) for p in train]
    examples = [(pr, c) for pr, ref in pairs if (c := completion_of(pr, ref)) is not None]
    corpus = [pr for pr, _ in examples] + [c for _, c in examples] + [prompt_for(p, placeholders) for p in heldout]
    base = init_model(work / "base", corpus, seed=args.seed)
    settings = TrainSettings(epochs=1000, lr=2e-3, batch_size=8, max_seq_len=256, max_steps=args.steps, warmup=10,
                             seed=args.seed)
    train_sft(base, examples, work / "tuned", settings)
    generator = make_generator(GeneratorConfig(backend="hf", model=str(work / "tuned"), device="cpu", batch_size=64))
    prompts = [prompt_for(p, placeholders) for p in heldout]
    params = SamplingParams(temperature=0.6, top_p=1.0, max_new_tokens=48, seed=args.seed, stop=tuple(getattr(PROVER, "stop", ())))
    outputs = generator.generate(prompts, args.samples, params)
    copied = verified = total = 0
    for problem, prompt, completions in zip(heldout, prompts, outputs):
        want = numerals(problem.reference.split(")", 1)[1])
        for completion in completions:
            candidate = candidate_of(completion.text, prompt)
            total += 1
            copied += numerals(candidate.split(")", 1)[1] if candidate else "") == want
            verified += PROVER.check(problem, candidate).verified if candidate else 0
    return copied / total, verified / total, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per model")
    parser.add_argument("--samples", type=int, default=4, help="samples per held-out problem")
    parser.add_argument("--train", type=int, default=600, help="most train references to fine-tune on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    problems = [p for p in load_problems(bundled_problems_dir() / "gen", prover="z3") if p.reference]
    copying = [p for p in problems if numerals(p.reference.split(")", 1)[1])]
    train = sorted((p for p in copying if p.split == "train"), key=lambda p: p.id)[: args.train]
    heldout = [p for p in copying if p.split == "heldout"]
    print(f"copy_accuracy: train_refs={len(train)} heldout={len(heldout)} steps={args.steps} samples={args.samples}")
    results = {}
    for label, placeholders in (("numerals", False), ("placeholders", True)):
        with tempfile.TemporaryDirectory(prefix="proofloop-copy-") as tmp:
            results[label] = measure(train, heldout, placeholders, args, Path(tmp))
        copy, ok, seconds = results[label]
        print(f"{label}: copy_accuracy={copy:.3f} verified={ok:.3f} seconds={seconds:.0f}")
    before, after = results["numerals"][0], results["placeholders"][0]
    print(f"copy_accuracy placeholders / numerals = {after / before:.2f}x" if before else "copy_accuracy numerals = 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
