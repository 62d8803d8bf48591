"""The Lean 4 prover: problems, soundness guards, a warm REPL pool, tactic-mode search."""

from provers.lean.prover import LeanProver
from provers.lean.tactic import LeanError, ProofFinished, TacticResult, TacticSession, TacticState, best_first_search
from provers.lean.toolchain import LeanConfig, Toolchain

__all__ = [
    "LeanProver",
    "LeanConfig",
    "Toolchain",
    "TacticSession",
    "TacticState",
    "ProofFinished",
    "LeanError",
    "TacticResult",
    "best_first_search",
]
