"""The guard lexer reads code where Lean reads code: a differential test against the real binary
(marker `lean`; `make lean` builds one). tests/lean_lexer_diff.py makes the cases and reads
Lean's answers; see its docstring for how Lean's reading is observed."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from lean_lexer_diff import cases, guard_reading, lean_readings
from provers.lean.toolchain import LeanConfig, discover

pytestmark = pytest.mark.lean

SEED = 20261203
COUNT = int(os.environ.get("PROOFLOOP_LEXDIFF_CASES", "4000"))


def test_guard_lexer_reads_a_fresh_identifier_as_lean_does():
    lean = str(discover(LeanConfig(mode="file")).lean)
    all_cases = cases(SEED, COUNT)
    readings = lean_readings(lean, all_cases)
    seen: Counter[tuple[str, str]] = Counter()
    wrong = []
    for case in all_cases:
        guard, why = guard_reading(case)
        lean_says = readings[case.index]
        seen[(lean_says, guard)] += 1
        # Code for Lean is code for the guard (or the guard rejects); text Lean reads through to
        # the end without meeting the identifier hides it from the guard too.
        if {lean_says, guard} == {"code", "hidden"}:
            wrong.append((case.text, lean_says, guard))
        # A text Lean reads without any error is refused only where its reading is undecidable
        # from the text alone: a brace in a string that may be interpolated.
        if lean_says == "hidden" and guard == "reject" and "does not follow s!" not in why:
            wrong.append((case.text, lean_says, why))
    assert not wrong, f"{len(wrong)} of {COUNT} cases read differently, e.g. {wrong[:5]}"
    # The cases decide something: both readings occur by the hundred.
    assert seen[("code", "code")] >= COUNT // 20 and seen[("hidden", "hidden")] >= COUNT // 10, seen
