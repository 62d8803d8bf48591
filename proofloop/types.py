"""The small, frozen values that flow through proofloop."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Split(str, Enum):
    TRAIN = "train"
    HELDOUT = "heldout"


@dataclass(frozen=True)
class Problem:
    """One problem, as the checker sees it.

    `text` is the full problem exactly as the checker reads it (a SyGuS-IF file, or a Lean
    header + theorem statement); a dataset row that carries it can be re-checked anywhere.
    `data` holds the prover's parsed form; it is derived from `text` and never serialised.
    """

    id: str
    prover: str
    text: str
    source: str = ""
    split: str = Split.TRAIN.value
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    data: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def text_hash(self) -> str:
        return sha256(self.text)


@dataclass(frozen=True)
class Rung:
    """A problem's place on a generated ladder: its family and its level (1 = easiest)."""

    family: str
    level: int


class Status(str, Enum):
    VERIFIED = "verified"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    # Two independent checkers disagreed (one verified, one rejected): never counted,
    # exported or trained on as verified.
    DISPUTED = "disputed"


@dataclass(frozen=True)
class CheckLimits:
    """Per-check resource limits and settings, enforced by the checker or the executor."""

    timeout_s: float = 10.0
    memory_mb: int = 2048
    # A second, independent checker that must agree ("cvc5" for the Z3 prover; "" for none).
    cross_check: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one candidate: a value, never an exception.

    `reason` is a short stable code (e.g. "parse", "signature", "grammar", "counterexample",
    "timeout", "guard:sorry"); `message` is for people; `counterexample` is structured
    evidence from the checker (variable values, violated constraints, Lean errors).
    """

    status: Status
    checker: str
    checker_version: str
    seconds: float = 0.0
    reason: str = ""
    message: str = ""
    counterexample: dict[str, Any] | None = None

    @property
    def verified(self) -> bool:
        return self.status is Status.VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "message": self.message,
            "counterexample": self.counterexample,
            "checker": self.checker,
            "checker_version": self.checker_version,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(
            status=Status(d["status"]),
            reason=d.get("reason", ""),
            message=d.get("message", ""),
            counterexample=d.get("counterexample"),
            checker=d["checker"],
            checker_version=d["checker_version"],
            seconds=float(d.get("seconds", 0.0)),
        )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
