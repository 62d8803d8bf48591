"""How often the grammar sampler (the round-0 policy) solves the bundled SyGuS problems.

For each n, every problem gets n samples from `Z3Prover.sample` (its own random stream, seeded
by --seed and the problem id, as the grammar generator does) and a problem counts as solved
when any sample verifies. Groups: the generated family problems/sygus/gen by its
`;; difficulty: N` comment, and the hand-written problems/sygus/lia and problems/sygus/inv.

    .venv/bin/python benchmarks/grammar_sampler.py [--n 16 64] [--seed 0] [--workers 2]

Prints one line per n, e.g.
`grammar_sampler: n=16 solved=A/B gen_d1=a/b ... lia=c/d inv=e/f distinct=0.97 samples_per_s=...`,
where distinct is the share of samples whose canonical form is new within their problem.
Candidates that recur (across n, or with the same canonical form) are checked once.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_DIFFICULTY = re.compile(r"^;;\s*difficulty:\s*(\d+)", re.MULTILINE)


def load_groups(root: Path) -> list[tuple[str, list]]:
    """(group name, problems) for gen by difficulty, then lia and inv."""
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    by_level: dict[int, list] = collections.defaultdict(list)
    for problem in prover.load(root / "gen"):
        m = _DIFFICULTY.search(problem.text)
        by_level[int(m.group(1)) if m else 0].append(problem)
    groups = [(f"gen_d{level}", by_level[level]) for level in sorted(by_level)]
    for name in ("lia", "inv"):
        if (root / name).is_dir():
            groups.append((name, prover.load(root / name)))
    return groups


def draw(groups, n: int, seed: int, max_size: int) -> tuple[dict[str, list[str]], float, float]:
    """Samples per problem id, the seconds spent sampling, and the share of distinct samples."""
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    samples: dict[str, list[str]] = {}
    distinct = total = 0
    started = time.perf_counter()
    for _, problems in groups:
        for problem in problems:
            rng = random.Random(f"{seed}:{problem.id}")
            samples[problem.id] = prover.sample(problem, n, rng, max_size=max_size)
    seconds = time.perf_counter() - started
    for texts in samples.values():
        distinct += len({prover.canonical(t) for t in texts})
        total += len(texts)
    return samples, seconds, distinct / max(1, total)


def check_all(problems: dict, samples: dict[str, list[str]], cache: dict, limits, workers: int) -> None:
    """Check every (problem, canonical form) not in `cache` yet and record whether it verified."""
    from proofloop.executors import check_batch
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    items, keys = [], []
    for pid, texts in samples.items():
        for text in texts:
            key = (pid, prover.canonical(text))
            if key not in cache:
                cache[key] = None
                items.append((problems[pid], text))
                keys.append(key)
    for key, verdict in zip(keys, check_batch(items, limits, workers=workers)):
        cache[key] = verdict.verified


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[16, 64], help="Samples per problem.")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the per-problem random streams.")
    ap.add_argument("--max-size", type=int, default=16, help="Size bound of the derivations.")
    ap.add_argument("--workers", type=int, default=2, help="Checker processes.")
    ap.add_argument("--timeout", type=float, default=10.0, help="Solver timeout per check, seconds.")
    ap.add_argument("--root", type=Path, default=REPO / "problems" / "sygus", help="Problem directory.")
    args = ap.parse_args(argv)
    from proofloop.types import CheckLimits
    from provers.z3 import Z3Prover

    prover = Z3Prover()
    groups = load_groups(args.root)
    problems = {p.id: p for _, ps in groups for p in ps}
    limits = CheckLimits(timeout_s=args.timeout)
    cache: dict = {}
    for n in args.n:
        samples, seconds, distinct = draw(groups, n, args.seed, args.max_size)
        check_all(problems, samples, cache, limits, args.workers)
        fields, solved_all = [], 0
        for name, group in groups:
            solved = sum(any(cache[(p.id, prover.canonical(t))] for t in samples[p.id]) for p in group)
            solved_all += solved
            fields.append(f"{name}={solved}/{len(group)}")
        count = sum(len(t) for t in samples.values())
        print(
            f"grammar_sampler: n={n} solved={solved_all}/{len(problems)} {' '.join(fields)} "
            f"distinct={distinct:.2f} samples_per_s={count / max(seconds, 1e-9):.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
