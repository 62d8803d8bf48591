"""The gate's guards: named policies that each look at a finished round and keep or discard it.

A round's model is kept only when every guard in `loop.guards` keeps it; each guard's decision and
reason is stored with the round (`guard_<name>` metrics, and the gate reason that the report
shows). A guard is a function `(RoundView) -> Decision`, registered in `GUARDS` under its name;
the view gives it the round's metrics, the metrics of earlier rounds and which of them were kept,
and the per-problem held-out pass@k that paired tests need. To add one, write the function, add
it to `GUARDS` and name it in the config.

- `forgetting`: the probe set (train problems a model solved before) is solved less often than
  `loop.forgetting_threshold` allows.
- `heldout_drop`: held-out pass@k significantly below the best kept round's (a paired bootstrap
  over held-out problems at `loop.gate_confidence`, beyond `loop.gate_tolerance`).
- `collapse`: the model's samples narrowed: at least two of pass@k over pass@1, unique verified
  solutions per solved problem and token entropy fell below `loop.collapse_ratio` times the
  previous kept model round's (a round with nothing to compare with is kept).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from proofloop.metrics import paired_drop_bound


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str


@dataclass
class RoundView:
    """What a guard sees of a finished round."""

    round: int
    k: int
    metrics: Mapping[str, float]
    kept_before: list[int]  # earlier rounds whose model was kept, in order
    metrics_of: Callable[[int], Mapping[str, float]]
    per_problem: Callable[[int], Mapping[str, float]]  # round -> held-out problem -> pass@k
    settings: object  # the run config's [loop] section
    seed: int = 0

    @property
    def key(self) -> str:
        return f"heldout_pass@{self.k}"


def forgetting(view: RoundView) -> Decision:
    value, limit = view.metrics.get("forgetting", 0.0), view.settings.forgetting_threshold
    if value > limit:
        return Decision(False, f"forgetting {value:.3f} > threshold {limit:g}")
    return Decision(True, f"forgetting {value:.3f} <= {limit:g}")


def heldout_drop(view: RoundView) -> Decision:
    key, s = view.key, view.settings
    if not view.kept_before:
        return Decision(True, "first model")
    best_round = max(view.kept_before, key=lambda q: view.metrics_of(q).get(key) or 0.0)
    best = view.metrics_of(best_round).get(key) or 0.0
    now = view.metrics.get(key) or 0.0
    _, bound = paired_drop_bound(view.per_problem(view.round), view.per_problem(best_round),
                                 confidence=s.gate_confidence, resamples=s.bootstrap_resamples, seed=view.seed)
    if bound < -s.gate_tolerance:
        return Decision(False, f"{key} {now:.3f} significantly below best kept {best:.3f} (difference upper bound {bound:+.3f})")
    return Decision(True, f"{key} {now:.3f} (best kept {best:.3f}, difference upper bound {bound:+.3f})")


def diversity(metrics: Mapping[str, float], k: int) -> dict[str, float]:
    """The three diversity measures the collapse guard compares."""
    p1 = metrics.get("heldout_pass@1") or 0.0
    pk = metrics.get(f"heldout_pass@{k}") or 0.0
    return {
        f"pass@{k}/pass@1": pk / p1 if p1 > 0 else 0.0,
        "unique_per_solved": metrics.get("unique_per_solved") or 0.0,
        "entropy": metrics.get("entropy") or 0.0,
    }


def collapse(view: RoundView) -> Decision:
    ratio = view.settings.collapse_ratio
    previous = [q for q in view.kept_before if q < view.round]
    if not previous:
        return Decision(True, "no kept round to compare diversity with")
    before, now = diversity(view.metrics_of(previous[-1]), view.k), diversity(view.metrics, view.k)
    fell = [name for name in now if before[name] > 0 and now[name] < ratio * before[name]]
    shown = ", ".join(f"{name} {now[name]:.2f} vs {before[name]:.2f}" for name in now)
    if len(fell) >= 2:
        return Decision(False, f"diversity collapsed below {ratio:g}x round {previous[-1]}'s: {shown}")
    return Decision(True, f"diversity vs round {previous[-1]}: {shown}")


GUARDS: dict[str, Callable[[RoundView], Decision]] = {
    "forgetting": forgetting,
    "heldout_drop": heldout_drop,
    "collapse": collapse,
}


def run_guards(names: list[str], view: RoundView) -> tuple[bool, str, dict[str, Decision]]:
    """(kept, the gate's reason, each guard's decision): kept only if every guard keeps.

    The reason is the first discarding guard's, else the last guard's (the held-out comparison
    when it runs last)."""
    decisions = {name: GUARDS[name](view) for name in names}
    against = [d for d in decisions.values() if not d.keep]
    if against:
        return False, against[0].reason, decisions
    if not decisions:
        return True, "no guards", decisions
    return True, decisions.get("heldout_drop", list(decisions.values())[-1]).reason, decisions
