"""The curriculum: where each problem sits on the ladder, and frontier sampling over it.

Each prover reports where a generated problem sits (`Prover.rung`: its family and level, read
from the prover's own metadata); a hand-written problem is its directory's family at level 1.
The ladder's top is the highest level among the problems. A round's train sample budget goes to
the frontier of the policy's ability rather than evenly:

1. problems solved sometimes but not always in the last round that tried them;
2. problems not solved yet, at a level no higher than one above the highest level solved in
   their family, or at the family's lowest level while none is solved, the families taking
   turns (within a family: untried ones first, then those tried fewest times; lower levels first);
3. a small share (`mastered_share`) of one sample each for problems solved every time, so a
   forgotten problem shows up again;
4. whatever is left, to unsolved problems further up the ladder, lowest levels first.

Every step is a seeded, stable order, so a resumed round recomputes the same plan; the plan is
recorded in the store (Store.set_allocation) for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from proofloop.prover import Prover
from proofloop.select import stable_rank
from proofloop.types import Problem, Rung


@dataclass(frozen=True)
class Ladder:
    """Every problem's rung, as its prover reports it; `generated` holds the ids that have one."""

    rungs: Mapping[str, Rung]
    generated: frozenset[str]

    @classmethod
    def of(cls, prover: Prover, problems: Iterable[Problem]) -> Ladder:
        rungs: dict[str, Rung] = {}
        generated = set()
        for p in problems:
            rung = prover.rung(p)
            if rung is None:
                rung = Rung(p.id.split("/")[0] if "/" in p.id else "other", 1)
            else:
                generated.add(p.id)
            rungs[p.id] = rung
        return cls(rungs, frozenset(generated))

    @property
    def top(self) -> int:
        """The highest level a generated problem sits on (1 when none is generated)."""
        return max((self.rungs[pid].level for pid in self.generated), default=1)

    def level(self, pid: str) -> int:
        return self.rungs[pid].level


def seed_level(cfg, r: int, top: int) -> int | None:
    """The highest ladder level whose references seed round r (None: every level).

    With `select.seed_unlock`, the levels open one step at a time: level 1 in round 0, all
    of them (up to `top`, the ladder's highest level) in the last round, evenly in between;
    `select.seed_max_level` caps them in any case.
    """
    cap = cfg.select.seed_max_level
    if cfg.select.seed_unlock:
        rounds = max(1, cfg.loop.rounds)
        level = 1 + round(min(r, rounds) * (top - 1) / rounds)
        return level if cap is None else min(cap, level)
    return cap


def up_to_level(problems: Sequence[Problem], ladder: Ladder, level: int | None) -> list[Problem]:
    """The problems whose ladder level is at most `level` (all of them when level is None).

    When none is that low (a small seeded subset of the ladder), the lowest level present counts
    as `level`, so that the first round still has seeds.
    """
    if level is None or not problems:
        return list(problems)
    levels = [ladder.level(p.id) for p in problems]
    top = max(level, min(levels))
    return [p for p, lv in zip(problems, levels) if lv <= top]


@dataclass(frozen=True)
class Allocation:
    """One problem's share of a round's train samples, and why."""

    problem_id: str
    samples: int
    reason: str


def latest_outcomes(outcomes: Mapping[tuple[int, str], tuple[int, int]]) -> dict[str, tuple[int, int, int]]:
    """problem -> (attempts in its latest tried round, verified of those, rounds tried)."""
    latest: dict[str, tuple[int, int, int]] = {}
    for (r, pid), (n, c) in sorted(outcomes.items()):
        tried = latest.get(pid, (0, 0, 0))[2] + 1
        latest[pid] = (n, c, tried)
    return latest


def reached_levels(rungs: Mapping[str, Rung], solved: set[str]) -> dict[str, int]:
    """family -> the highest level with a solved problem; with none solved, one below its lowest level.

    A family's lowest rung is then always on the frontier, whatever level it starts at.
    """
    out: dict[str, int] = {}
    for rung in rungs.values():
        out[rung.family] = min(out.get(rung.family, rung.level), rung.level - 1)
    for pid in solved:
        rung = rungs[pid]
        out[rung.family] = max(out[rung.family], rung.level)
    return out


def allocate(
    rungs: Mapping[str, Rung],
    outcomes: Mapping[tuple[int, str], tuple[int, int]],
    *,
    budget: int,
    n: int,
    mastered_share: float,
    seed: int,
    round: int,
) -> list[Allocation]:
    """The round's plan: up to `budget` samples, n per frontier problem (see the module docstring)."""
    latest = latest_outcomes(outcomes)
    solved = {pid for pid, (_, c, _) in latest.items() if c > 0 and pid in rungs}
    reached = reached_levels(rungs, solved)

    def order(pid: str) -> tuple:
        return (latest.get(pid, (0, 0, 0))[2], rungs[pid].level, stable_rank(seed * 1000 + round, pid))

    mastered = [pid for pid in solved if latest[pid][1] == latest[pid][0]]
    partial = [pid for pid in solved if pid not in set(mastered)]
    unsolved = [pid for pid in rungs if pid not in solved]
    near = [pid for pid in unsolved if rungs[pid].level <= reached[rungs[pid].family] + 1]
    far = [pid for pid in unsolved if rungs[pid].level > reached[rungs[pid].family] + 1]
    plan: list[Allocation] = []
    left = budget
    refresh = min(len(mastered), int(budget * mastered_share))
    for group, reason in ((sorted(partial, key=order), "partial"), (interleaved(near, rungs, order), "frontier")):
        for pid in group:
            if left - refresh < n:
                break
            plan.append(Allocation(pid, n, reason))
            left -= n
    for pid in sorted(mastered, key=order)[: min(refresh, left)]:
        plan.append(Allocation(pid, 1, "mastered"))
        left -= 1
    for pid in sorted(far, key=lambda p: (rungs[p].level, *order(p))):
        if left < n:
            break
        plan.append(Allocation(pid, n, "beyond"))
        left -= n
    return plan


def interleaved(ids: list[str], rungs: Mapping[str, Rung], order: Callable[[str], tuple]) -> list[str]:
    """`ids` taken one family at a time in turn, each family's in `order`: every family gets its share."""
    by_family: dict[str, list[str]] = {}
    for pid in sorted(ids, key=order):
        by_family.setdefault(rungs[pid].family, []).append(pid)
    queues = [by_family[f] for f in sorted(by_family)]
    out = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def groups(plan: Mapping[str, tuple[int, str]]) -> dict[int, list[str]]:
    """samples -> the problem ids given that many, in the plan's order (one sampling call each)."""
    out: dict[int, list[str]] = {}
    for pid, (samples, _) in plan.items():
        out.setdefault(samples, []).append(pid)
    return out


def frontier_plan(ctx, r: int) -> list[Allocation]:
    """Round r's frontier plan for a run context (proofloop.loop.RunContext), from its store."""
    s = ctx.cfg.sampling
    rungs = Ladder.of(ctx.prover, (ctx.problems[pid] for pid in ctx.train_ids)).rungs
    outcomes = ctx.store.outcomes(ctx.checker, ctx.checker_version, max_round=r - 1)
    return allocate(
        rungs, outcomes, budget=s.budget, n=s.n, mastered_share=s.mastered_share, seed=ctx.cfg.run.seed, round=r
    )


def ladder_metrics(
    ladder: Ladder,
    heldout: Sequence[dict],
    baseline: Sequence[dict],
    train_solved: set[str],
    k: int,
    pass_metrics: Callable[[Sequence[dict], int, str], dict[str, float]],
    baseline_prefix: str = "grammar_heldout",
) -> dict[str, float]:
    """Generated and hand-written held-out slices apart, and the highest level solved.

    The hand-written slice is out of distribution for the ladder: it is reported beside the
    generated one (heldout_gen_*, heldout_hand_*, and grammar_* for the round-0 baseline).
    """

    out: dict[str, float] = {}
    for prefix, attempts in (("heldout", heldout), (baseline_prefix, baseline)):
        if not attempts:
            continue
        gen = [a for a in attempts if a["problem_id"] in ladder.generated]
        hand = [a for a in attempts if a["problem_id"] not in ladder.generated]
        out.update(pass_metrics(gen, k, f"{prefix}_gen") if gen else {})
        out.update(pass_metrics(hand, k, f"{prefix}_hand") if hand else {})
    solved_heldout = {a["problem_id"] for a in heldout if a["status"] == "verified"}
    out["heldout_max_level"] = float(max_level(ladder, solved_heldout))
    out["train_max_level"] = float(max_level(ladder, train_solved))
    out.update(level_counts(ladder, {a["problem_id"] for a in heldout}, solved_heldout, "heldout"))
    out.update(level_counts(ladder, set(train_solved), set(train_solved), "train"))
    return out


def level_counts(ladder: Ladder, ids: set[str], solved: set[str], prefix: str) -> dict[str, float]:
    """`{prefix}_level{L}_solved` (and, for held-out, `_total`) per ladder level, for the report's heatmap."""
    out: dict[str, float] = {}
    for pid in ids:
        if pid not in ladder.generated:
            continue
        level = ladder.level(pid)
        if prefix == "heldout":
            out[f"{prefix}_level{level}_total"] = out.get(f"{prefix}_level{level}_total", 0.0) + 1
        out[f"{prefix}_level{level}_solved"] = out.get(f"{prefix}_level{level}_solved", 0.0) + (pid in solved)
    return out


def max_level(ladder: Ladder, solved: set[str]) -> int:
    """The highest ladder level among the solved generated problems (0 when none)."""
    levels = [ladder.level(pid) for pid in solved if pid in ladder.generated]
    return max(levels, default=0)
