"""Verdicts for people: a coloured headline, the counterexample as tables, the checker on one line.

Counterexamples are plain data from the checker (see provers/z3); this module only lays them
out. Keys it does not know are still shown, as a table or a line each, so nothing is hidden.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from proofloop.types import Status, Verdict

STYLES = {
    Status.VERIFIED: "bold green",
    Status.REJECTED: "bold red",
    Status.UNKNOWN: "bold yellow",
    Status.DISPUTED: "bold magenta",
}


def headline(verdict: Verdict) -> Text:
    """`REJECTED (reason): message` in the colour of the status."""
    text = Text(verdict.status.value.upper(), style=STYLES[verdict.status])
    if verdict.reason:
        text.append(f" ({verdict.reason})")
    if verdict.message:
        text.append(f": {verdict.message}")
    return text


def footer(verdict: Verdict) -> Text:
    """The checker, its version and the time taken, dim."""
    return Text(f"checker {verdict.checker} {verdict.checker_version} · {verdict.seconds:.3f} s", style="dim")


def render_verdict(verdict: Verdict) -> RenderableType:
    """Everything a person needs to read a verdict at a glance."""
    parts: list[RenderableType] = [headline(verdict)]
    if verdict.counterexample:
        parts.append(Padding(Group(*render_counterexample(verdict.counterexample)), (0, 0, 0, 2), expand=False))
    parts.append(footer(verdict))
    return Group(*parts)


def print_verdict(console: Console, verdict: Verdict) -> None:
    """Print a verdict with `console` (colours only where the console supports them).

    Candidate text reaches the verdict's message and counterexample; its control and format
    characters are shown escaped, so a candidate cannot repaint the terminal.
    """
    console.print(render_verdict(printable_verdict(verdict)))


def printable_verdict(verdict: Verdict) -> Verdict:
    """`verdict` with every string in it made printable (see `printable`)."""
    return dataclasses.replace(
        verdict,
        checker=printable(verdict.checker),
        checker_version=printable(verdict.checker_version),
        reason=printable(verdict.reason),
        message=printable(verdict.message),
        counterexample=_printable_data(verdict.counterexample),
    )


def printable(text: str) -> str:
    """`text` with control and format characters (escapes, bell, bidi overrides) written as \\x1b, \\u202e."""
    if text.isprintable():  # the common case; False for every control and format character
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _printable_data(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {printable(str(k)): _printable_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable_data(v) for v in value]
    return value


def verdict_json(verdict: Verdict, problem_id: str, file: str) -> str:
    """One JSON object: Verdict.to_dict() plus the problem id and the file it came from."""
    return json.dumps({**verdict.to_dict(), "problem": problem_id, "file": file}, default=str)


# ---- counterexamples ---------------------------------------------------------------------------


def render_counterexample(cex: Mapping[str, Any]) -> list[RenderableType]:
    """Tables for a checker's counterexample: the inputs, each violated constraint, the states."""
    parts: list[RenderableType] = []
    shown = set()
    if "condition" in cex:
        parts.append(Text.assemble(("failed condition: ", "bold"), str(cex["condition"])))
        shown.add("condition")
    if _is_flat(cex.get("state")):
        parts.append(states_table(cex["state"], cex.get("next_state") or {}))
        shown |= {"state", "next_state"}
    if _is_flat(cex.get("values")):
        parts.append(values_table(("variable", "value"), cex["values"]))
        shown.add("values")
    if isinstance(cex.get("violated"), list):
        parts.extend(_violated(cex["violated"]))
        shown.add("violated")
    for key, value in cex.items():  # whatever else the checker sent, so nothing is hidden
        if key in shown or value in (None, {}, []):
            continue
        if _is_flat(value) and value:
            parts.append(values_table((key.replace("_", " "), "value"), value))
        else:
            parts.append(Text(f"{key.replace('_', ' ')}: {_show(value)}"))
    return parts


def values_table(header: tuple[str, ...], values: Mapping[str, Any]) -> Table:
    """A table of names and their values, the names in the first column."""
    table = _table(header)
    for name, value in values.items():
        table.add_row(_show(name), _show(value))
    return table


def states_table(state: Mapping[str, Any], next_state: Mapping[str, Any]) -> Table:
    """An invariant's failing state, with the next state beside it when there is one."""
    if not next_state:
        return values_table(("variable", "state"), state)
    table = _table(("variable", "state", "next state"))
    nexts = list(next_state.items())
    for k, (name, value) in enumerate(state.items()):
        # The checker lists primed variables in the order of the state variables.
        after = _show(nexts[k][1]) if k < len(nexts) else ""
        table.add_row(_show(name), _show(value), after)
    for name, value in nexts[len(state) :]:
        table.add_row(_show(name), "", _show(value))
    return table


def _table(header: tuple[str, ...]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for k, title in enumerate(header):
        table.add_column(title, style="cyan" if k == 0 else None, overflow="fold")
    return table


def _violated(items: list[Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for item in items:
        if not isinstance(item, Mapping):
            parts.append(Text.assemble(("violated: ", "bold red"), _show(item)))
            continue
        parts.append(Text.assemble(("violated: ", "bold red"), str(item.get("constraint", ""))))
        calls = item.get("calls")
        if _is_flat(calls) and calls:
            parts.append(values_table(("the candidate computed", "value"), calls))
        for key, value in item.items():
            if key not in ("constraint", "calls"):
                parts.append(Text(f"  {key.replace('_', ' ')}: {_show(value)}"))
    return parts


def _is_flat(value: Any) -> bool:
    return isinstance(value, Mapping) and all(not isinstance(v, (Mapping, list)) for v in value.values())


_NEGATIVE = re.compile(r"\(- (\d+)\)")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, default=str)
    # SMT-LIB writes -1 as (- 1); people read -1.
    return _NEGATIVE.sub(r"-\1", str(value))
