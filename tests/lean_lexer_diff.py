"""The lexer differential against the real `lean` binary: generated texts, Lean's reading of a
fresh identifier in each, and the guard lexer's reading of the same identifier.

Each case is a text that mixes comments (line, block, nested, doc), string literals (plain, raw,
after `s!`/`m!`/`f!`), character literals and loose lexical fragments (`/-`, `-/`, quotes,
braces, backslashes), with one fresh identifier `zzX<i>` placed at random: as code, or inside
one of those pieces. The case is elaborated by Lean as the argument list of an application:

    theorem t<i> : T := eat <text>
      zzEND<i>

Lean stops a declaration at its first error, and literals elaborate without one (the header
declares `String` and `Char`), so Lean reports `Unknown identifier zzX<i>` exactly when it read
the identifier as code, and `Unknown identifier zzEND<i>` when it read the whole text without
an error and without meeting the identifier in code. Anything else (a parse error, another
unknown name exposed by the text) decides nothing: Lean rejects such a text anyway.
"""

from __future__ import annotations

import re
import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provers.lean.lexer import Kind, LexError, tokenize

HEADER = """prelude
universe u
inductive T : Prop | t
axiom String : Type
axiom Nat : Type
axiom Char : Type
axiom Char.ofNat : Nat → Char
axiom eat {ARGS} : T
"""
ARITY = 24

# Fragments that move comment, string and character boundaries.
CHAOS = ["/-", "-/", "--", "/", "-", '"', "'", "\\", "{", "}", "#", "r", "!", "«", "»", "\n  ", " ", "  ", "x"]
OPENER_NEXT = ["/", "-", "!", '"', "{", "'", "*", "\n  "]
CHAR_BODIES = ['"', "-", "/", "{", "}", "\\n", "\\'", "\\\\", '\\"', "\\x41", "\\u0041", "a", "«", "#", "\\q", ""]


@dataclass(frozen=True)
class Case:
    index: int
    text: str

    @property
    def ident(self) -> str:
        return f"zzX{self.index}"

    @property
    def end(self) -> str:
        return f"zzEND{self.index}"


def header() -> str:
    args = " ".join(f"{{α{i} : Sort u}} (a{i} : α{i})" for i in range(ARITY))
    return HEADER.replace("{ARGS}", args)


def _content(rng: random.Random, ident: str | None) -> str:
    parts = [rng.choice(CHAOS) for _ in range(rng.randint(0, 4))]
    if ident is not None:
        parts.insert(rng.randint(0, len(parts)), f" {ident} ")
    return "".join(parts)


def _piece(rng: random.Random, ident: str | None) -> str:
    """One lexical piece; `ident` (when given) is placed inside it or, for `code`, as it is."""
    kind = rng.choices(
        ["code", "string", "interp", "raw", "char", "line", "block", "opener", "nested", "doc", "chaos"],
        weights=[3, 4, 2, 2, 2, 3, 3, 3, 3, 1, 3],
    )[0]
    body = _content(rng, ident if kind != "code" else None)
    if kind == "code":
        return ident or rng.choice(['"s"', "'c'", 'r"r"'])
    if kind == "string":
        return f'"{body}"'
    if kind == "interp":
        return f'{rng.choice(["s!", "m!", "f!"])}"{_content(rng, None)}{{{body}}}{_content(rng, None)}"'
    if kind == "raw":
        hashes = "#" * rng.randint(0, 2)
        return f'r{hashes}"{body}"{hashes}'
    if kind == "char":
        return f"'{rng.choice(CHAR_BODIES)}'" + (f" {ident}" if ident else "")
    if kind == "line":
        return f"--{body}\n "
    if kind == "block":
        return f"/-{body}-/"
    if kind == "opener":
        # Lean skips the character after `/-` unread: `/-/- -/` is one comment.
        return f"/-{rng.choice(OPENER_NEXT)}{body}-/"
    if kind == "nested":
        return f"/-{_content(rng, None)}/-{body}-/{_content(rng, None)}-/"
    if kind == "doc":
        return f"{rng.choice(['/--', '/-!'])}{body}-/"
    return body


def make_case(rng: random.Random, index: int) -> Case:
    ident = f"zzX{index}"
    n = rng.randint(1, 5)
    holder = rng.randrange(n)
    pieces = [_piece(rng, ident if k == holder else None) for k in range(n)]
    return Case(index, " ".join(pieces))


def cases(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    return [make_case(rng, i) for i in range(count)]


def guard_reading(case: Case) -> tuple[str, str]:
    """("code" | "hidden" | "reject", the LexError's message when rejected)."""
    try:
        tokens = tokenize(case.text)
    except LexError as e:
        return "reject", str(e)
    idents = {t.text.replace("«", "").replace("»", "") for t in tokens if t.kind is Kind.IDENT}
    return ("code" if case.ident in idents else "hidden"), ""


def _file(batch: list[Case]) -> str:
    return header() + "".join(
        f"#check zzSTART{c.index}\ntheorem t{c.index} : T := eat {c.text}\n  {c.end}\n" for c in batch
    )


def lean_readings(lean: str, all_cases: list[Case], batch_size: int = 150, timeout_s: float = 120.0) -> dict[int, str]:
    """Lean's reading of each case's identifier: "code", "hidden" or "other" (decides nothing).

    Cases go through the binary in batches. A case that leaves a literal or comment open can
    swallow the cases after it, so each case is preceded by `#check zzSTART<i>`: Lean reporting
    that name shows the theorem after it was read as a fresh command. Cases without it go again
    in the next batch (the first case of a batch always has it)."""
    readings: dict[int, str] = {}
    pending = list(all_cases)
    with tempfile.TemporaryDirectory(prefix="proofloop-lexdiff-") as tmp:
        path = Path(tmp) / "Cases.lean"
        while pending:
            batch, pending = pending[:batch_size], pending[batch_size:]
            path.write_text(_file(batch), encoding="utf-8")
            out = subprocess.run(
                [lean, "--json", str(path)], capture_output=True, text=True, timeout=timeout_s, check=False
            ).stdout
            named = set(re.findall(r"Unknown identifier `(zz[A-Z]+\d+)`", out))
            again = []
            for case in batch:
                if f"zzSTART{case.index}" not in named:
                    again.append(case)
                elif case.ident in named:
                    readings[case.index] = "code"
                elif case.end in named:
                    readings[case.index] = "hidden"
                else:
                    readings[case.index] = "other"
            if again and again[0] is batch[0]:
                raise RuntimeError(f"lean did not read the first case of a batch: {out[:500]}")
            pending = again + pending
    return readings
