"""A small, hand-made run store for the report and export tests (written with the real Store)."""

from __future__ import annotations

from pathlib import Path

from proofloop.store import AttemptRow, DatasetRow, Store
from proofloop.types import Problem, Status, Verdict, sha256
from provers.z3 import Z3Prover

CHECKER = "z3"
# The current rules: export leaves out rows verified under any other.
CHECKER_VERSION = Z3Prover().version()
K = 4


def _sygus(name: str, args: str, decls: str, constraints: str) -> str:
    return f"(set-logic LIA)\n(synth-fun {name} ({args}) Int)\n{decls}\n{constraints}\n(check-synth)\n"


_XY = "(declare-var x Int)\n(declare-var y Int)"
_X = "(declare-var x Int)"

# problem id -> (split, text, a correct solution, a wrong one)
PROBLEMS = {
    "max2": (
        "train",
        _sygus(
            "max2", "(x Int) (y Int)", _XY,
            "(constraint (>= (max2 x y) x))\n(constraint (>= (max2 x y) y))\n"
            "(constraint (or (= x (max2 x y)) (= y (max2 x y))))",
        ),
        "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))",
        "(define-fun max2 ((x Int) (y Int)) Int x)",
    ),
    "plus2": (
        "train",
        _sygus("plus2", "(x Int)", _X, "(constraint (= (plus2 x) (+ x 2)))"),
        "(define-fun plus2 ((x Int)) Int (+ x 2))",
        "(define-fun plus2 ((x Int)) Int (+ x 1))",
    ),
    "double": (
        "train",
        _sygus("double", "(x Int)", _X, "(constraint (= (double x) (+ x x)))"),
        "(define-fun double ((x Int)) Int (+ x x))",
        "(define-fun double ((x Int)) Int x)",
    ),
    "min2": (
        "heldout",
        _sygus(
            "min2", "(x Int) (y Int)", _XY,
            "(constraint (<= (min2 x y) x))\n(constraint (<= (min2 x y) y))\n"
            "(constraint (or (= x (min2 x y)) (= y (min2 x y))))",
        ),
        "(define-fun min2 ((x Int) (y Int)) Int (ite (<= x y) x y))",
        "(define-fun min2 ((x Int) (y Int)) Int y)",
    ),
}

# Alternative correct solutions, so that a problem can have more than one dataset row.
ALTERNATIVES = {
    "max2": "(define-fun max2 ((x Int) (y Int)) Int (ite (<= y x) x y))",
    "plus2": "(define-fun plus2 ((x Int)) Int (+ 2 x))",
}

# round -> metrics; round 1 is the discarded one.
METRICS = {
    0: {
        "solved_train": 1, "solved_train_round": 1, "heldout_pass@1": 0.125, f"heldout_pass@{K}": 0.25,
        "grammar_heldout_pass@1": 0.125, f"grammar_heldout_pass@{K}": 0.25, "forgetting": 0.0,
        "unique_per_solved": 1.0, "distinct_2": 0.61, "entropy": 0.0, "dataset_size": 2, "train_rows": 2,
        "kept": 1, "time_sample_s": 0.4, "time_check_s": 1.2, "time_train_s": 3.5, "time_eval_s": 0.8,
    },
    1: {
        "solved_train": 2, "solved_train_round": 2, "heldout_pass@1": 0.0625, f"heldout_pass@{K}": 0.125,
        "forgetting": 0.5, "unique_per_solved": 1.5, "distinct_2": 0.432, "entropy": 1.75,
        "heldout_nll": 2.25, "dataset_size": 4, "train_rows": 4, "kept": 0, "time_sample_s": 2.0,
        "time_check_s": 1.0, "time_train_s": 4.0, "time_eval_s": 1.5,
    },
    2: {
        "solved_train": 3, "solved_train_round": 2, "heldout_pass@1": 0.5, f"heldout_pass@{K}": 0.875,
        "forgetting": 0.0, "unique_per_solved": 1.6667, "distinct_2": 0.5, "entropy": 1.25,
        "heldout_nll": 1.5, "dataset_size": 5, "train_rows": 5, "kept": 1, "time_sample_s": 2.5,
        "time_check_s": 1.1, "time_train_s": 4.2, "time_eval_s": 1.4,
    },
}

GATES = {0: (True, "baseline"), 1: (False, "heldout_pass@4 fell 0.125 > tolerance 0.05"), 2: (True, "improved")}

# Dataset rows: (problem id, round, origin, candidate)
DATASET = [
    ("max2", 0, "reference", PROBLEMS["max2"][2]),
    ("plus2", 0, "verified", PROBLEMS["plus2"][2]),
    ("max2", 1, "verified", ALTERNATIVES["max2"]),
    ("double", 1, "verified", PROBLEMS["double"][2]),
    ("plus2", 2, "verified", ALTERNATIVES["plus2"]),
]

CONFIG = {
    "run": {"seed": 0},
    "problems": {"prover": "z3"},
    "sampling": {"n": 2, "eval_n": 4, "k": K},
    "loop": {"rounds": 2, "forgetting_threshold": 0.5, "gate_tolerance": 0.05},
}


def prompt_of(problem_id: str) -> str:
    return f"; Solve the SyGuS problem {problem_id}.\n{PROBLEMS[problem_id][1]}; Solution:\n"


def canonical_hash(candidate: str) -> str:
    return sha256(" ".join(candidate.split()))


def build_run(run_dir: Path) -> Path:
    """Create a three-round run (0 kept, 1 discarded, 2 kept) with attempts, verdicts and data."""
    with Store.create(run_dir, CONFIG, run_id="synthetic") as store:
        problems = [
            Problem(id=pid, prover="z3", text=text, source=f"tests/{pid}.sl", split=split, reference=good)
            for pid, (split, text, good, _) in PROBLEMS.items()
        ]
        store.add_problems(problems, [prompt_of(p.id) for p in problems])
        attempt_ids = _add_attempts_and_verdicts(store)
        for round, (kept, reason) in GATES.items():
            store.start_round(round, "grammar" if round == 0 else "model")
            store.add_dataset_rows(
                DatasetRow(
                    problem_id=pid, candidate=cand, canonical_hash=canonical_hash(cand), origin=origin,
                    round=r, attempt_id=attempt_ids.get((r, pid, cand)),
                    generator="grammar" if r == 0 else f"hf:round{r - 1}",
                    checker=CHECKER, checker_version=CHECKER_VERSION, verdict_seconds=0.01 * (i + 1),
                )
                for i, (pid, r, origin, cand) in enumerate(DATASET)
                if r == round
            )
            ids = [row.id for row in store.dataset_rows(max_round=round)]
            store.set_training_rows(round, ids)
            store.finish_round(
                round, kept=kept, gate_reason=reason, checkpoint=str(run_dir / f"ckpt-{round}"),
                metrics=METRICS[round],
            )
    return run_dir


def _add_attempts_and_verdicts(store: Store) -> dict[tuple[int, str, str], int]:
    rows, verdicts = [], []
    for pid, r, origin, cand in DATASET:
        if origin != "verified":
            continue
        wrong = PROBLEMS[pid][3]
        for idx, text in enumerate((cand, wrong)):
            rows.append(
                AttemptRow(
                    round=r, purpose="train", problem_id=pid, sample_idx=idx, completion=text + "\n",
                    candidate=text, candidate_hash=sha256(text), canonical_hash=canonical_hash(text),
                    generator="grammar" if r == 0 else f"hf:round{r - 1}", params={"temperature": 1.0},
                    num_tokens=len(text.split()), logprob=-1.5 * len(text.split()),
                )
            )
            status = Status.VERIFIED if text == cand else Status.REJECTED
            verdicts.append(
                (pid, canonical_hash(text), Verdict(status, CHECKER, CHECKER_VERSION, 0.01, "" if idx == 0 else "counterexample"))
            )
    store.add_attempts(rows)
    store.put_verdicts(verdicts)
    ids = {}
    for row in store.conn.execute("SELECT id, round, problem_id, candidate FROM attempts"):
        ids[(row["round"], row["problem_id"], row["candidate"])] = row["id"]
    return ids
