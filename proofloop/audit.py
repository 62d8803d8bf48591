"""Audits of a problem set: duplicates by normal form, and train/held-out overlap.

Two problems are duplicates when their normal forms are equal: the prompt with variables and
the functions to synthesise renamed canonically, numerals kept (for Z3 problems,
provers.z3.prompt.normal_form; for other provers, the prompt with whitespace collapsed). A
held-out problem that duplicates a train problem measures memory, not generalisation, so a run
refuses such a set unless told otherwise. Near-duplicates (token-set Jaccard >= 0.9 of the
normal forms) are reported, not refused: they share a shape but differ in a constant or two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from proofloop.errors import ConfigError
from proofloop.metrics import tokens
from proofloop.prover import Prover
from proofloop.types import Problem

NEAR_JACCARD = 0.9


@dataclass(frozen=True)
class Audit:
    """What an audit found: duplicate groups within a split, cross-split pairs, near-duplicates."""

    problems: int
    duplicates: tuple[tuple[str, ...], ...]  # same split, same normal form
    overlaps: tuple[tuple[str, str], ...]  # (held-out id, train id) with the same normal form
    near: tuple[tuple[str, str, float], ...]  # (held-out id, train id, Jaccard) >= NEAR_JACCARD

    def lines(self) -> list[str]:
        """The audit as `key: value` lines, then one line per finding."""
        out = [
            f"problems: {self.problems}",
            f"duplicate_groups: {len(self.duplicates)}",
            f"heldout_train_overlaps: {len(self.overlaps)}",
            f"near_duplicates: {len(self.near)} (token-set Jaccard >= {NEAR_JACCARD})",
        ]
        out += [f"duplicate: {' = '.join(group)}" for group in self.duplicates]
        out += [f"overlap: {h} = {t}" for h, t in self.overlaps]
        out += [f"near: {h} ~ {t} ({j:.2f})" for h, t, j in self.near]
        return out


def audit(prover: Prover, problems: Sequence[Problem]) -> Audit:
    """Duplicates, train/held-out overlaps and near-duplicates among `problems`."""
    forms = {p.id: prover.normal_form(p) for p in problems}
    by_form: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in problems:
        by_form[p.split, forms[p.id]].append(p.id)
    duplicates = tuple(tuple(sorted(ids)) for ids in by_form.values() if len(ids) > 1)
    train_by_form = {form: ids for (split, form), ids in by_form.items() if split == "train"}
    heldout = [p for p in problems if p.split == "heldout"]
    overlaps = tuple(
        (h.id, t) for h in heldout for t in sorted(train_by_form.get(forms[h.id], []))
    )
    return Audit(len(problems), duplicates, overlaps, near_duplicates(problems, heldout, forms, set(overlaps)))


def near_duplicates(
    problems: Sequence[Problem], heldout: Sequence[Problem], forms: dict[str, str], exact: set[tuple[str, str]]
) -> tuple[tuple[str, str, float], ...]:
    """(held-out, train, Jaccard) pairs at or above NEAR_JACCARD that are not exact duplicates."""
    sets = {pid: frozenset(tokens(form)) for pid, form in forms.items()}
    train = [p.id for p in problems if p.split == "train"]
    found = []
    for h in heldout:
        a = sets[h.id]
        for t in train:
            b = sets[t]
            # |A & B| / |A | B| >= j needs min/max size >= j: a cheap filter before the set work.
            if min(len(a), len(b)) < NEAR_JACCARD * max(len(a), len(b)):
                continue
            j = len(a & b) / len(a | b)
            if j >= NEAR_JACCARD and (h.id, t) not in exact:
                found.append((h.id, t, j))
    return tuple(found)


def refuse_overlap(result: Audit, source: str) -> None:
    """Raise a one-line ConfigError naming the held-out/train pairs with the same normal form."""
    if not result.overlaps:
        return
    shown = ", ".join(f"{h} = {t}" for h, t in result.overlaps[:5])
    more = f" and {len(result.overlaps) - 5} more" if len(result.overlaps) > 5 else ""
    raise ConfigError(
        f"problems: {source}: {len(result.overlaps)} held-out problems duplicate train problems "
        f"({shown}{more}); fix the split or set problems.allow_overlap=true"
    )
