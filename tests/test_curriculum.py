"""The ladder and frontier sampling (proofloop/curriculum.py)."""

from __future__ import annotations

from collections import Counter

from proofloop.curriculum import Rung, allocate, groups, rung_of


def test_rung_of_reads_the_generated_comments_and_defaults_hand_written_problems():
    assert rung_of("gen/clamp_0001", ";; family: clamp\n;; level: 4\n(set-logic LIA)") == Rung("clamp", 4)
    assert rung_of("lia/max3", "(set-logic LIA)") == Rung("lia", 1)


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
    assert [seed_level(cfg, r) for r in range(4)] == [1, 2, 4, 5]
    capped = load_config(None, ["select.seed_unlock=true", "loop.rounds=3", "select.seed_max_level=3"])
    assert [seed_level(capped, r) for r in range(4)] == [1, 2, 3, 3]
    assert seed_level(load_config(None, ["select.seed_unlock=false"]), 2) is None
    assert seed_level(load_config(None, ["select.seed_unlock=false", "select.seed_max_level=2"]), 0) == 2


def test_up_to_level_falls_back_to_the_lowest_level_present():
    from proofloop.curriculum import up_to_level
    from proofloop.types import Problem

    def problem(pid, level):
        return Problem(id=pid, prover="z3", text=f";; family: f\n;; level: {level}\n")

    some = [problem("a", 3), problem("b", 4), problem("c", 3)]
    assert [p.id for p in up_to_level(some, 1)] == ["a", "c"]
    assert [p.id for p in up_to_level(some, 4)] == ["a", "b", "c"]
    assert up_to_level(some, None) == some and up_to_level([], 1) == []
