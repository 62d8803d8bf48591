"""The ladder and frontier sampling (proofloop/curriculum.py)."""

from __future__ import annotations

from collections import Counter

from proofloop.curriculum import Ladder, Rung, allocate, groups
from proofloop.prover import Prover
from proofloop.types import Problem

MAX3 = """(set-logic LIA)
(synth-fun max3 ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (>= (max3 x y z) x))
(constraint (>= (max3 x y z) y))
(constraint (>= (max3 x y z) z))
(constraint (or (= (max3 x y z) x) (= (max3 x y z) y) (= (max3 x y z) z)))
(check-synth)
"""


def test_the_z3_prover_reads_the_generated_comments_and_hand_written_problems_sit_on_level_one():
    from provers.z3 import Z3Prover

    z3 = Z3Prover()
    gen = z3.from_text(";; family: clamp\n;; level: 4\n" + MAX3, id="gen/clamp_0001")
    hand = z3.from_text(MAX3, id="lia/max3")
    assert z3.rung(gen) == Rung("clamp", 4) and z3.rung(hand) is None
    ladder = Ladder.of(z3, [gen, hand])
    assert ladder.rungs == {"gen/clamp_0001": Rung("clamp", 4), "lia/max3": Rung("lia", 1)}
    assert ladder.generated == {"gen/clamp_0001"} and ladder.top == 4


def test_the_default_rung_hook_reads_problem_meta_and_the_top_comes_from_the_problems():
    problems = [Problem(id=f"p{lv}", prover="x", text="", meta={"family": "f", "level": lv}) for lv in (1, 2, 7)]
    assert Prover().rung(problems[2]) == Rung("f", 7)
    assert Prover().rung(Problem(id="q", prover="x", text="")) is None
    assert Ladder.of(Prover(), problems).top == 7
    assert Ladder.of(Prover(), []).top == 1


def ladder() -> dict[str, Rung]:
    return {f"{fam}{lv}_{i}": Rung(fam, lv) for fam in ("a", "b") for lv in (1, 2, 3, 4) for i in range(5)}


def test_round_zero_spends_the_budget_on_level_one_first():
    plan = allocate(ladder(), {}, budget=80, n=8, mastered_share=0.1, seed=0, round=0)
    assert sum(a.samples for a in plan) <= 80
    assert Counter(a.reason for a in plan) == {"frontier": 10}
    assert all(a.problem_id[1] == "1" for a in plan)


def test_solved_problems_unlock_the_next_level_and_mastered_ones_get_little():
    rungs = ladder()
    outcomes = {(0, f"a1_{i}"): (8, 8) for i in range(5)}  # family a level 1 mastered
    outcomes[(0, "b1_0")] = (8, 3)  # solved sometimes
    outcomes[(0, "b1_1")] = (8, 0)  # tried, unsolved
    plan = allocate(rungs, outcomes, budget=130, n=8, mastered_share=0.1, seed=0, round=1)
    by_id = {a.problem_id: a for a in plan}
    assert sum(a.samples for a in plan) <= 130
    assert plan[0].problem_id == "b1_0" and plan[0].reason == "partial"
    assert all(by_id[f"a2_{i}"].reason == "frontier" for i in range(5))  # level 2 of a is unlocked
    assert not any(pid.startswith(("a3", "a4", "b3", "b4")) for pid in by_id)  # beyond: no budget left
    mastered = [a for a in plan if a.reason == "mastered"]
    assert all(a.samples == 1 for a in mastered) and len(mastered) <= 10
    # untried problems come before ones that already failed
    frontier = [a.problem_id for a in plan if a.reason == "frontier"]
    assert frontier.index("b1_2") < frontier.index("b1_1") if "b1_1" in frontier else True


def test_leftover_budget_goes_beyond_the_frontier_lowest_level_first():
    plan = allocate(ladder(), {}, budget=8 * 40, n=8, mastered_share=0.1, seed=0, round=0)
    beyond = [a for a in plan if a.reason == "beyond"]
    assert beyond and [int(a.problem_id[1]) for a in beyond] == sorted(int(a.problem_id[1]) for a in beyond)
    assert len(plan) == 40


def test_plans_are_seeded_and_grouped_by_sample_count():
    one = allocate(ladder(), {}, budget=40, n=8, mastered_share=0.1, seed=3, round=2)
    two = allocate(ladder(), {}, budget=40, n=8, mastered_share=0.1, seed=3, round=2)
    assert one == two
    assert groups({a.problem_id: (a.samples, a.reason) for a in one}) == {8: [a.problem_id for a in one]}


def test_a_family_that_starts_above_level_one_is_on_the_frontier_from_its_lowest_rung():
    rungs = {"c3_0": Rung("c", 3), "c3_1": Rung("c", 3), "c4_0": Rung("c", 4), "a1_0": Rung("a", 1)}
    plan = allocate(rungs, {}, budget=24, n=8, mastered_share=0.0, seed=0, round=0)
    assert {a.problem_id for a in plan} == {"c3_0", "c3_1", "a1_0"}
    assert all(a.reason == "frontier" for a in plan)


def test_seed_levels_unlock_one_step_per_round():
    from proofloop.config import load_config
    from proofloop.curriculum import seed_level

    cfg = load_config(None, ["select.seed_unlock=true", "loop.rounds=3"])
    assert [seed_level(cfg, r, top=5) for r in range(4)] == [1, 2, 4, 5]
    assert [seed_level(cfg, r, top=3) for r in range(4)] == [1, 2, 2, 3]
    capped = load_config(None, ["select.seed_unlock=true", "loop.rounds=3", "select.seed_max_level=3"])
    assert [seed_level(capped, r, top=5) for r in range(4)] == [1, 2, 3, 3]
    assert seed_level(load_config(None, ["select.seed_unlock=false"]), 2, top=5) is None
    assert seed_level(load_config(None, ["select.seed_unlock=false", "select.seed_max_level=2"]), 0, top=5) == 2


def test_up_to_level_falls_back_to_the_lowest_level_present():
    from proofloop.curriculum import up_to_level

    def problem(pid, level):
        return Problem(id=pid, prover="z3", text="", meta={"family": "f", "level": level})

    some = [problem("a", 3), problem("b", 4), problem("c", 3)]
    ladder = Ladder.of(Prover(), some)
    assert [p.id for p in up_to_level(some, ladder, 1)] == ["a", "c"]
    assert [p.id for p in up_to_level(some, ladder, 4)] == ["a", "b", "c"]
    assert up_to_level(some, ladder, None) == some and up_to_level([], ladder, 1) == []
