"""The JSON protocol of the leanprover-community REPL (github.com/leanprover-community/repl).

Requests are JSON objects separated by blank lines: `{"cmd": ..., "env": N}` runs commands,
`{"tactic": ..., "proofState": N}` runs one tactic, and the pickling requests save and load
environments. Responses are JSON objects followed by a blank line; a command answers with
`env`, `messages` and `sorries`, a tactic with `proofState`, `goals` and `messages`, and a
request the REPL cannot serve answers only `{"message": "..."}`. Empty lists may be omitted.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

# The axioms a verified proof may use: those of classical mathematics in Lean's core.
STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
# Lean's warning for a declaration with a sorry; releases quote the word with '...' or `...`.
SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
# Lean's own report that it gave up for lack of memory (`lean -M`, the kernel's memory check).
RESOURCE_MESSAGE = re.compile(r"excessive memory consumption|out of memory|stack overflow", re.I)


class ProtocolError(ValueError):
    """A response that is not what the protocol promises (the REPL is broken or not the REPL)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Pos(_Frozen):
    line: int
    column: int


class Message(_Frozen):
    severity: Literal["error", "warning", "info", "information", "trace"]
    pos: Pos | None = None
    endPos: Pos | None = None
    data: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.pos.line}:{self.pos.column}: " if self.pos else ""
        return f"{where}{self.severity}: {self.data}"


class Sorry(_Frozen):
    goal: str = ""
    pos: Pos | None = None
    endPos: Pos | None = None
    proofState: int | None = None


class CommandResponse(_Frozen):
    env: int | None = None
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    tactics: tuple[dict[str, Any], ...] = ()

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.is_error]


class ProofStepResponse(_Frozen):
    proofState: int
    goals: tuple[str, ...] = ()
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    traces: tuple[str, ...] = ()
    # Newer REPL versions report "Completed", "Incomplete: ..." or "Error: ...".
    proofStatus: str | None = None

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.is_error]


class ReplError(_Frozen):
    """A request the REPL could not serve (unknown env, unparsable JSON, a failing tactic)."""

    message: str


Response = CommandResponse | ProofStepResponse | ReplError


class Command(_Frozen):
    cmd: str
    env: int | None = None
    allTactics: bool | None = None


class ProofStep(_Frozen):
    tactic: str
    proofState: int


class PickleEnvironment(_Frozen):
    pickleTo: str
    env: int


class PickleProofState(_Frozen):
    pickleTo: str
    proofState: int


class UnpickleEnvironment(_Frozen):
    unpickleEnvFrom: str


class UnpickleProofState(_Frozen):
    unpickleProofStateFrom: str
    env: int | None = None


Request = Command | ProofStep | PickleEnvironment | PickleProofState | UnpickleEnvironment | UnpickleProofState

# A response ends at a blank line; the REPL reads a request up to a blank line too.
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")


def encode(request: Request) -> bytes:
    """One request as the REPL reads it: one line of JSON, then a blank line."""
    # json.dumps escapes newlines inside strings, so the request never holds a blank line.
    return (json.dumps(request.model_dump(exclude_none=True), ensure_ascii=False) + "\n\n").encode("utf-8")


def split_response(buffer: str) -> tuple[str, str] | None:
    """(one response's text, the rest) if `buffer` holds a complete response, else None."""
    stripped = buffer.lstrip()
    m = _BLANK_LINE.search(stripped)
    if m is None:
        return None
    return stripped[: m.start()], stripped[m.end() :]


def decode(text: str) -> Response:
    """Parse one response; raises ProtocolError for anything the REPL would not send."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"not JSON ({e.msg}): {text[:200]!r}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {text[:200]!r}")
    try:
        if "message" in obj and "env" not in obj and "proofState" not in obj:
            return ReplError.model_validate(obj)
        if "proofState" in obj and "goals" in obj:
            return ProofStepResponse.model_validate(obj)
        return CommandResponse.model_validate(obj)
    except ValidationError as e:
        raise ProtocolError(f"unexpected response shape: {e.errors()[0]['msg']}: {text[:200]!r}") from None


_AXIOMS = re.compile(r"'(?P<name>[^']+)' depends on axioms:\s*\[(?P<axioms>[^\]]*)\]", re.S)
_NO_AXIOMS = re.compile(r"'(?P<name>[^']+)' does not depend on any axioms")


def parse_axioms(messages: tuple[Message, ...] | list[Message]) -> tuple[str, list[str]] | None:
    """(printed name, axioms) from the info message of `#print axioms NAME`, or None."""
    for m in messages:
        if m.severity not in ("info", "information"):
            continue
        hit = _AXIOMS.search(m.data)
        if hit:
            axioms = [a.strip() for a in hit["axioms"].replace("\n", " ").split(",") if a.strip()]
            return hit["name"], axioms
        hit = _NO_AXIOMS.search(m.data)
        if hit:
            return hit["name"], []
    return None


def axioms_in_text(text: str) -> list[str] | None:
    """The axioms listed in `#print axioms` output printed by `lean` on a file, or None."""
    hit = _AXIOMS.search(text)
    if hit:
        return [a.strip() for a in hit["axioms"].replace("\n", " ").split(",") if a.strip()]
    return [] if _NO_AXIOMS.search(text) else None


def uses_sorry(response: CommandResponse | ProofStepResponse) -> bool:
    """Whether the response reports a `sorry` (a recorded sorry or Lean's warning)."""
    return bool(response.sorries) or any(SORRY_WARNING.search(m.data) for m in response.messages)


def describe(messages: tuple[Message, ...] | list[Message], limit: int = 3) -> str:
    """The first few messages on one line each, for verdict messages."""
    shown = [str(m).replace("\n", " ") for m in messages[:limit]]
    more = len(messages) - limit
    return "; ".join(shown) + (f"; ... {more} more" if more > 0 else "")


def messages_as_dicts(messages: tuple[Message, ...] | list[Message]) -> list[dict[str, Any]]:
    return [m.model_dump(exclude_none=True) for m in messages]
