"""Unification by decision trees (EUSolver, TACAS'17).

Given terms that each cover some of the points (the spec holds at the point when the function
is that term) and predicates with their truth values at the points, build `ite` trees whose
leaves cover every point that reaches them. Splits are chosen by information gain over the
labels "which term covers this point", each point's label spread over the terms that cover it
in proportion to how much each term covers (EUSolver's heuristic).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from provers.z3.synth.enumerate import OutOfTime
from provers.z3.terms import APP, Term

MAX_DEPTH = 64


@dataclass
class Leaf:
    term: Term


@dataclass
class Split:
    predicate: Term
    then: Tree
    otherwise: Tree


Tree = Leaf | Split


def _entropies(weights: np.ndarray) -> np.ndarray:
    """The entropy of each column of label masses (0 for an empty column)."""
    total = weights.sum(axis=0)
    p = weights / np.where(total > 0, total, 1.0)
    logs = np.log2(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=0)


def learn(
    covers: np.ndarray, terms: list[Term], predicates: np.ndarray, preds: list[Term], deadline: float = float("inf")
) -> Tree | None:
    """A decision tree over all points, or None when the predicates cannot separate them; raises
    OutOfTime once `deadline` passes.

    covers: T x N bool (term t covers point n); predicates: P x N bool.
    """
    n = covers.shape[1]
    return _learn(covers, terms, predicates, preds, np.ones(n, dtype=bool), 0, deadline)


def _learn(covers, terms, predicates, preds, mask, depth, deadline) -> Tree | None:
    if time.perf_counter() > deadline:
        raise OutOfTime()
    sub = covers[:, mask]
    full = sub.all(axis=1)
    if full.any():
        # Terms come cheapest first: the first that covers every point here.
        return Leaf(terms[int(np.flatnonzero(full)[0])])
    if depth >= MAX_DEPTH or not sub.any(axis=0).all():
        return None
    split = _best_split(sub, predicates[:, mask])
    if split is None:
        return None
    yes = mask.copy()
    yes[mask] = predicates[split, mask]
    no = mask & ~yes
    then = _learn(covers, terms, predicates, preds, yes, depth + 1, deadline)
    if then is None:
        return None
    otherwise = _learn(covers, terms, predicates, preds, no, depth + 1, deadline)
    if otherwise is None:
        return None
    return Split(preds[split], then, otherwise)


def _best_split(sub: np.ndarray, pvals: np.ndarray) -> int | None:
    """The predicate with the largest information gain among those that split the points."""
    m = sub.shape[1]
    ones = pvals.sum(axis=1)
    useful = np.flatnonzero((ones > 0) & (ones < m))
    if len(useful) == 0:
        return None
    weights = sub.sum(axis=1).astype(float)  # how much each term covers here
    share = sub * weights[:, None]
    share = share / np.maximum(share.sum(axis=0, keepdims=True), 1e-12)  # T x m, columns sum to 1
    pv = pvals[useful].astype(float)  # U x m
    yes = share @ pv.T  # T x U: label mass on the true side
    no = share.sum(axis=1, keepdims=True) - yes
    n_yes = pv.sum(axis=1)
    n_no = m - n_yes
    # One pass over every predicate at once: a loop over them took seconds with tens of
    # thousands of predicates, past the search's deadline.
    gains = -(n_yes / m) * _entropies(yes) - (n_no / m) * _entropies(no)
    return int(useful[int(np.argmax(gains))])


def to_term(tree: Tree) -> Term:
    """The `ite` term of a tree."""
    if isinstance(tree, Leaf):
        return tree.term
    then, other = to_term(tree.then), to_term(tree.otherwise)
    t = Term(APP, "ite", (tree.predicate, then, other), then.sort, ())
    t.depth = 1 + max(tree.predicate.depth, then.depth, other.depth)
    return t


def leaves(tree: Tree) -> int:
    return 1 if isinstance(tree, Leaf) else leaves(tree.then) + leaves(tree.otherwise)
