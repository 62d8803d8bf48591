"""The run's metrics: pass@k (unbiased), diversity, forgetting and held-out NLL.

Frozen and separate from the loop: the loop, `proofloop eval` and the reports all measure with
these functions, so numbers from different commands mean the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from proofloop.generate.base import Completion

# Parentheses are tokens of their own so that "(+ x y)" and "( + x y )" count the same.
_TOKEN = re.compile(r"[()]|[^\s()]+")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed: 1 - C(n-c, k) / C(n, k).

    Computed as 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms the large binomials
    (Chen et al., 2021). Example: pass_at_k(10, 1, 1) == 0.1.
    """
    if k < 1:
        raise ValueError(f"pass@k needs k >= 1, got k={k}")
    if n < 0 or c < 0 or c > n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ValueError(f"pass@k needs k <= n (k={k} > n={n}): draw at least k samples per problem")
    if n - c < k:
        # Every k-subset contains a passing sample.
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return 1.0 - fail


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems, from problem id -> (samples n, passed c); empty -> 0.0."""
    if not counts:
        return 0.0
    return math.fsum(pass_at_k(n, c, k) for n, c in counts.values()) / len(counts)


def tokens(text: str) -> list[str]:
    """Split text into whitespace-separated tokens, with each parenthesis a token of its own."""
    return _TOKEN.findall(text)


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct-n: unique n-grams / total n-grams over all texts; 0.0 when there are none."""
    if n < 1:
        raise ValueError(f"distinct-n needs n >= 1, got n={n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        toks = tokens(text)
        for i in range(len(toks) - n + 1):
            seen.add(tuple(toks[i : i + n]))
            total += 1
    return len(seen) / total if total else 0.0


def mean_token_entropy(completions: Sequence[Completion]) -> float:
    """Mean over completions of -logprob/num_tokens: a Monte-Carlo estimate of per-token entropy.

    Completions with no tokens are skipped; with none left the result is 0.0.
    """
    rates = [-c.logprob / c.num_tokens for c in completions if c.num_tokens > 0]
    return math.fsum(rates) / len(rates) if rates else 0.0


def forgetting_rate(solved_before: Collection[str], solved_now: Collection[str]) -> float:
    """Fraction of the problems solved before that are not solved now; 0.0 if none were."""
    before = set(solved_before)
    if not before:
        return 0.0
    return len(before - set(solved_now)) / len(before)


def unique_per_solved(verified: Mapping[str, Collection[str]]) -> float:
    """Mean number of distinct canonical verified solutions per solved problem.

    `verified` maps problem id -> canonical forms of its verified solutions; problems with
    none are unsolved and do not count. No solved problem -> 0.0.
    """
    sizes = [len(set(forms)) for forms in verified.values() if forms]
    return sum(sizes) / len(sizes) if sizes else 0.0


def nll_per_token(logprob_sums: Sequence[float], token_counts: Sequence[int]) -> float:
    """Negative log-likelihood per token: -sum(logprob_sums) / sum(token_counts).

    The two sequences are parallel (one entry per scored text). No tokens -> 0.0.
    """
    if len(logprob_sums) != len(token_counts):
        raise ValueError(
            f"nll_per_token needs one token count per logprob sum, got {len(logprob_sums)} and {len(token_counts)}"
        )
    if any(t < 0 for t in token_counts):
        raise ValueError("nll_per_token: token counts must be >= 0")
    total = sum(token_counts)
    if total == 0:
        return 0.0
    return -math.fsum(logprob_sums) / total


def pass_at_k_by_problem(counts: Mapping[str, tuple[int, int]], k: int) -> dict[str, float]:
    """problem id -> pass@k, from problem id -> (samples n, passed c)."""
    return {pid: pass_at_k(n, c, k) for pid, (n, c) in counts.items()}


def _resampled_means(values: Sequence[float], resamples: int, seed: int) -> list[float]:
    """Means of `resamples` bootstrap resamples (with replacement) of `values`, sorted."""
    import random

    rng = random.Random(seed)
    size = len(values)
    return sorted(math.fsum(values[rng.randrange(size)] for _ in range(size)) / size for _ in range(resamples))


def bootstrap_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per problem); (0, 0) if empty."""
    if not values:
        return 0.0, 0.0
    means = _resampled_means(list(values), resamples, seed)
    tail = (1.0 - confidence) / 2
    return means[int(tail * (resamples - 1))], means[int(math.ceil((1 - tail) * (resamples - 1)))]


def paired_difference_ci(
    current: Mapping[str, float], reference: Mapping[str, float], *, confidence: float = 0.95,
    resamples: int = 1000, seed: int = 0,
) -> tuple[float, float, float]:
    """(mean difference, lower, upper): a two-sided paired-bootstrap interval of current - reference
    over their common problems; (0, 0, 0) when they share none."""
    common = sorted(set(current) & set(reference))
    diffs = [current[p] - reference[p] for p in common]
    if not diffs:
        return 0.0, 0.0, 0.0
    lo, hi = bootstrap_ci(diffs, confidence=confidence, resamples=resamples, seed=seed)
    return math.fsum(diffs) / len(diffs), lo, hi


def paired_drop_bound(
    current: Mapping[str, float], reference: Mapping[str, float], *, confidence: float = 0.95,
    resamples: int = 1000, seed: int = 0,
) -> tuple[float, float]:
    """(mean difference, one-sided upper bound) of current - reference over their common problems.

    A paired bootstrap over problems: each resample draws problems with replacement and takes
    the mean of their differences. When the upper bound is below 0, current is lower than
    reference with the given confidence; otherwise the difference is within the noise.
    """
    common = sorted(set(current) & set(reference))
    diffs = [current[p] - reference[p] for p in common]
    if not diffs:
        return 0.0, 0.0
    means = _resampled_means(diffs, resamples, seed)
    return math.fsum(diffs) / len(diffs), means[int(math.ceil(confidence * (resamples - 1)))]


# -- the catalog of a run's metric names ---------------------------------------------------------
#
# Every per-round metric a run records is declared here once; the loop's greppable lines, the
# report's table and plots, and the docs read their names, kinds and order from this list (a
# test holds a whole run's recorded keys against it). In a name, "@K" stands for the run's k
# and a word in braces ("{level}", "{k}", "{name}") for a number or a name.


@dataclass(frozen=True)
class Metric:
    name: str
    count: bool = False  # counts things: shown as an integer
    line: bool = False  # printed as a `name: value` line after each round (in catalog order)
    column: str | None = None  # a column of the per-round table; the value is its terminal label ("" : HTML only)
    group: str = ""  # "diversity" and "phase_time" metrics share a plot


def _pass_family(prefix: str, lines: Collection[str] = (), columns: Mapping[str, str] | None = None) -> list[Metric]:
    """What `evaluate.pass_metrics(attempts, k, prefix)` records."""
    out = []
    for suffix in ("pass@1", "pass@K", "pass@K_lo", "pass@K_hi", "solved", "solved_count"):
        out.append(Metric(f"{prefix}_{suffix}", count=suffix == "solved_count", line=suffix in lines,
                          column=(columns or {}).get(suffix)))
    return out


CATALOG: tuple[Metric, ...] = (
    Metric("solved_train", count=True, line=True, column="solved"),
    Metric("solved_train_round", count=True, line=True, column=""),
    *_pass_family("heldout", ("pass@1", "pass@K", "pass@K_lo", "pass@K_hi"), {"pass@1": "pass@1", "pass@K": "pass@K"}),
    *_pass_family("heldout_gen", ("pass@K",)),
    *_pass_family("heldout_hand", ("solved_count",)),
    Metric("heldout_max_level", count=True, line=True),
    Metric("train_max_level", count=True, line=True),
    *_pass_family("grammar_heldout", ("pass@1", "pass@K")),
    *_pass_family("grammar_heldout_gen"),
    *_pass_family("grammar_heldout_hand", ("solved_count",)),
    *_pass_family("uniform_heldout", ("pass@1", "pass@K")),  # the search policy's baseline: the uniform cost
    *_pass_family("uniform_heldout_gen"),
    *_pass_family("uniform_heldout_hand", ("solved_count",)),
    Metric("heldout_level{level}_total", count=True),
    Metric("heldout_level{level}_solved", count=True),
    Metric("conjectures_made", count=True, line=True),
    Metric("conjectures_solved", count=True, line=True),
    Metric("coverage_pass@{k}"),  # the coverage curve: k = 1, 2, 4, ... up to sampling.coverage_n
    Metric("forgetting", line=True, column="forget"),
    Metric("probe_size", count=True),
    Metric("unique_per_solved", line=True, column="uniq", group="diversity"),
    Metric("distinct_2", line=True, column="dist-2", group="diversity"),
    Metric("entropy", line=True, column="ent", group="diversity"),
    Metric("heldout_nll", line=True, column=""),
    Metric("dataset_size", count=True, line=True, column="data"),
    Metric("train_rows", count=True, line=True, column=""),
    Metric("disputed", count=True, line=True, column="disp"),
    Metric("guard_{name}", count=True),  # 1: the named guard kept the round, 0: it discarded it
    Metric("train_loss_first", line=True),
    Metric("train_loss_last", line=True),
    Metric("train_steps", count=True),
    Metric("samples_per_s", line=True),
    Metric("checks_per_s", line=True),
    Metric("train_tokens_per_s", line=True),
    Metric("time_pretrain_s", line=True),
    Metric("time_sample_s", line=True, group="phase_time"),
    Metric("time_check_s", line=True, group="phase_time"),
    Metric("time_select_s", line=True, group="phase_time"),
    Metric("time_train_s", line=True, group="phase_time"),
    Metric("time_eval_s", line=True, group="phase_time"),
)


def metric_names(*, line: bool | None = None, column: bool | None = None, count: bool | None = None,
                 group: str | None = None) -> tuple[str, ...]:
    """Catalog names (with "@K" unexpanded) that match every filter given, in catalog order."""
    return tuple(
        m.name for m in CATALOG
        if (line is None or m.line == line) and (column is None or (m.column is not None) == column)
        and (count is None or m.count == count) and (group is None or m.group == group)
    )


def with_k(name: str, k: int | None) -> str:
    """A catalog name with the run's k in place of "@K"."""
    return name.replace("@K", f"@{k}") if k is not None else name


def declared(key: str, k: int) -> Metric | None:
    """The catalog entry a recorded key is an instance of (None: an undeclared key)."""
    for m in CATALOG:
        pattern = re.sub(r"\\\{\w+\\\}", r"\\w+", re.escape(with_k(m.name, k)))
        if re.fullmatch(pattern, key):
            return m
    return None
