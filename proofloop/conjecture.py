"""Conjecturing: new train problems derived from solved ones, so the frontier never runs dry.

After a round's selection, each of up to `loop.conjectures` solved train problems (a seeded
choice among those with a verified solution, generated or hand-written) yields one new
problem: a numeral that the verified solution uses is moved by a small step in the problem and
in the solution alike (a perturbed constant). The moved solution is checked by the prover
against the new problem before the problem is used; one that does not verify is dropped, and so
is one that a trivial candidate solves (`Prover.trivial_candidates`: a constant, a parameter)
or whose constraints hold for every function (the loader refuses it). A new
problem whose normal form is already in the run (in particular, any held-out problem's) is
dropped too, so held-out problems never gain a duplicate in train.

New problems are stored like the bundled ones (ids `conj/r<round>/<parent>`, split train,
their parent's `;; family:` and `;; level:` lines, the moved solution as reference), so a
resumed run finds them and frontier sampling sees them as untried problems.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from proofloop.types import Problem

_NUMERAL = re.compile(r"(?<![\w.!|])([0-9]+)(?![\w.!|])")
STEPS = (-3, -2, -1, 1, 2, 3)


@dataclass(frozen=True)
class Conjecture:
    """A derived problem and the solution it was verified with."""

    problem: Problem
    solution: str
    parent: str


def body_numerals(text: str) -> set[int]:
    """Numerals outside comment lines."""
    return {int(n) for line in text.splitlines() if not line.lstrip().startswith(";") for n in _NUMERAL.findall(line)}


def move(text: str, old: int, new: int, *, comments: bool) -> str:
    """`text` with every numeral `old` written as `new` (comment lines too only if `comments`)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if comments or not line.lstrip().startswith(";"):
            line = _NUMERAL.sub(lambda m: str(new) if int(m.group(1)) == old else m.group(1), line)
        lines.append(line)
    return "".join(lines)


def perturb(parent: Problem, solution: str, rng: random.Random) -> tuple[str, str] | None:
    """(new problem text, moved solution), or None when the solution copies no numeral above 1."""
    used = body_numerals(parent.text)
    shared = sorted(n for n in used & {int(n) for n in _NUMERAL.findall(solution)} if n > 1)
    if not shared:
        return None
    old = rng.choice(shared)
    choices = [old + s for s in STEPS if old + s > 1 and old + s not in used]
    if not choices:
        return None
    new = rng.choice(choices)
    header = "".join(line + "\n" for line in parent.text.splitlines() if line.startswith(";;") and "reference:" not in line)
    body = "".join(line + "\n" for line in parent.text.splitlines() if not line.lstrip().startswith(";"))
    moved = move(solution, old, new, comments=True)
    return f"{header};; conjectured from: {parent.id}\n;; reference: {moved}\n{move(body, old, new, comments=False)}", moved


def conjecture(
    prover, parents: Sequence[tuple[Problem, str]], taken_forms: set[str], *, round: int, seed: int
) -> list[Conjecture]:
    """New problems from (solved problem, verified solution) pairs; each checked before it is kept."""

    rng = random.Random(f"{seed}:{round}:conjecture")
    made = []
    ids: set[str] = set()
    for parent, solution in parents:
        moved = perturb(parent, solution, rng)
        if moved is None:
            continue
        text, reference = moved
        pid = f"conj/r{round}/{parent.id.replace('/', '.')}"
        pid += "" if pid not in ids else f".{sum(i.startswith(pid) for i in ids)}"
        try:
            problem = prover.from_text(text, id=pid, source=f"conjectured from {parent.id}", split="train",
                                       reference=reference)
        except Exception:  # noqa: BLE001 - a mutation the loader refuses is simply not used
            continue
        form = prover.normal_form(problem)
        if form in taken_forms or not prover.check(problem, reference).verified:
            continue
        if any(prover.check(problem, trivial).verified for trivial in prover.trivial_candidates(problem)):
            continue  # moving the numeral emptied a condition: a constant or a parameter solves it
        taken_forms.add(form)
        ids.add(pid)
        made.append(Conjecture(problem, reference, parent.id))
    return made


def extend_run(ctx, r: int) -> int:
    """Add round r's conjectures to a run (proofloop.loop.RunContext) and its store; how many were added.

    Idempotent: a round that already has conjectures (a resumed run) adds none.
    """
    from proofloop.select import stable_rank

    prefix = f"conj/r{r}/"
    if any(pid.startswith(prefix) for pid in ctx.problems):
        return 0
    solved: dict[str, str] = {}
    for row in ctx.store.dataset_rows(max_round=r, version=ctx.checker_version):
        if row.origin == "verified" and row.problem_id in ctx.problems and row.problem_id not in solved:
            solved[row.problem_id] = row.candidate
    chosen = sorted(solved, key=lambda pid: stable_rank(ctx.cfg.run.seed * 7919 + r, pid))[: ctx.cfg.loop.conjectures]
    forms = {ctx.prover.normal_form(p) for p in ctx.problems.values()}
    made = conjecture(ctx.prover, [(ctx.problems[pid], solved[pid]) for pid in chosen], forms,
                      round=r, seed=ctx.cfg.run.seed)
    problems = [c.problem for c in made]
    prompts = [ctx.prover.prompt(p) for p in problems]
    ctx.store.add_problems(problems, prompts)
    for problem, prompt in zip(problems, prompts):
        ctx.problems[problem.id] = problem
        ctx.prompts[problem.id] = prompt
        ctx.train_ids.append(problem.id)
    ctx.store.add_round_stats(r, {"conjectures_made": float(len(made))})
    return len(made)


def conjecture_metrics(problem_ids, solved: set[str]) -> dict[str, float]:
    """How many conjectured problems the run holds and how many of them were solved."""
    conj = [pid for pid in problem_ids if pid.startswith("conj/")]
    return {"conjectures_made": float(len(conj)), "conjectures_solved": float(sum(pid in solved for pid in conj))}
