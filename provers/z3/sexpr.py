"""S-expressions for SyGuS-IF and SMT-LIB: a hardened tokenizer, parser and printer.

Parsed data are plain Python values: lists become tuples; atoms are `Symbol` (a str; `|x|`
and `x` are the same symbol), `Keyword` (`:named`), `int` (numerals; `-5` is read as the
negative literal SyGuS-IF 2.1 allows), `BVLit` (`#x0f`, `#b1010`), `Decimal` and `StrLit`.
Everything here is iterative, so a candidate nested 100,000 deep is refused with a
`ParseError` (reason "too-deep") instead of exhausting the Python stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Iterator, Union


# The widest bit-vector a sort, literal or operator result may have.
MAX_BV_WIDTH = 1 << 16


class Symbol(str):
    """An SMT-LIB symbol."""

    __slots__ = ()


class Keyword(str):
    """An SMT-LIB keyword such as `:named` (the colon is kept)."""

    __slots__ = ()


class Decimal(str):
    """A decimal literal, kept as its text (no logic here uses reals)."""

    __slots__ = ()


class StrLit(str):
    """A string literal, unescaped."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class BVLit:
    """A bit-vector literal: `#x0f` and `#b00001111` are both BVLit(15, 8)."""

    value: int
    width: int


Atom = Union[Symbol, Keyword, Decimal, StrLit, BVLit, int]
SExpr = Union[Atom, tuple]


class ParseError(Exception):
    """Malformed s-expression text; `reason` is "parse" or "too-deep"."""

    def __init__(self, message: str, line: int | None = None, reason: str = "parse"):
        self.message = message
        self.line = line
        self.reason = reason
        super().__init__(message if line is None else f"line {line}: {message}")


_SIMPLE = r"[A-Za-z~!@$%^&*_+=<>.?/\-][A-Za-z0-9~!@$%^&*_+=<>.?/\-]*"
# Every atom must end at a delimiter, so `0:0` or `a{` is an error rather than two tokens.
_END = r"(?=[ \t\r\n\f\v()\";|]|\Z)"
_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+)
      | (?P<nl>\n)
      | (?P<comment>;[^\n]*)
      | (?P<lp>\()
      | (?P<rp>\))
      | (?P<dec>[0-9]+\.[0-9]+)"""
    + _END
    + r"""
      | (?P<num>-?[0-9]+)"""
    + _END
    + r"""
      | (?P<hex>\#x[0-9A-Fa-f]+)"""
    + _END
    + r"""
      | (?P<bin>\#b[01]+)"""
    + _END
    + r"""
      | (?P<str>"(?:[^"]|"")*")
      | (?P<qsym>\|[^|\\]*\|)
      | (?P<kw>:[A-Za-z0-9~!@$%^&*_+=<>.?/\-]+)"""
    + _END
    + r"""
      | (?P<sym>"""
    + _SIMPLE
    + r")"
    + _END,
    re.VERBOSE,
)
_SIMPLE_RE = re.compile(_SIMPLE + r"\Z")
_NEG_INT_RE = re.compile(r"-?[0-9]+\Z")
_DECIMAL_RE = re.compile(r"[0-9]+\.[0-9]+\Z")


# Longer numerals are refused: Python's int/str conversions stop at 4,300 digits, and no
# problem or sensible candidate needs a 4,000-digit constant.
MAX_NUMERAL_DIGITS = 4_000
# SMT-LIB digits are ASCII only (str.isdigit() also accepts superscripts and other scripts).
ASCII_DIGITS = re.compile(r"[0-9]+\Z")


def numeral(raw: str, line: int | None = None) -> int:
    """The value of an ASCII numeral (optionally signed); ParseError when it is too long."""
    if len(raw.lstrip("-")) > MAX_NUMERAL_DIGITS:
        raise ParseError(f"numeral of {len(raw.lstrip('-'))} digits; the limit is {MAX_NUMERAL_DIGITS}", line, "too-large")
    return int(raw)


def _atom(kind: str, raw: str) -> Atom:
    if kind == "sym":
        return Symbol(raw)
    if kind == "num":
        return numeral(raw)
    if kind == "qsym":
        return Symbol(raw[1:-1])
    if kind == "hex":
        return BVLit(int(raw[2:], 16), 4 * (len(raw) - 2))
    if kind == "bin":
        return BVLit(int(raw[2:], 2), len(raw) - 2)
    if kind == "kw":
        return Keyword(raw)
    if kind == "dec":
        return Decimal(raw)
    return StrLit(raw[1:-1].replace('""', '"'))


def tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield (kind, raw text, line) for every token, comments and whitespace excluded."""
    pos, line, end = 0, 1, len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            snippet = text[pos : pos + 20].split("\n")[0]
            if text[pos] == '"':
                raise ParseError("unterminated string literal", line)
            if text[pos] == "|":
                raise ParseError("unterminated quoted symbol", line)
            raise ParseError(f"unexpected text {snippet!r}", line)
        kind = m.lastgroup
        raw = m.group()
        pos = m.end()
        if kind == "nl":
            line += 1
        elif kind in ("ws", "comment"):
            continue
        else:
            yield kind, raw, line
            if kind in ("str", "qsym"):
                line += raw.count("\n")


_FAST = re.compile(r"[()]|[^ \t\r\n\f\v()]+")
_NUM_FULL = re.compile(r"-?[0-9]+\Z")
_DEC_FULL = re.compile(r"[0-9]+\.[0-9]+\Z")
_HEX_FULL = re.compile(r"#x[0-9A-Fa-f]+\Z")
_BIN_FULL = re.compile(r"#b[01]+\Z")
_KW_FULL = re.compile(r":[A-Za-z0-9~!@$%^&*_+=<>.?/\-]+\Z")


def _classify(raw: str, symbols: dict[str, Symbol]) -> Atom | None:
    """The atom spelled `raw` (no strings, quoted symbols or comments), None if invalid."""
    sym = symbols.get(raw)
    if sym is not None:
        return sym
    c = raw[0]
    if "0" <= c <= "9" or (c == "-" and len(raw) > 1 and "0" <= raw[1] <= "9"):
        if _NUM_FULL.match(raw):
            return numeral(raw)
        if _DEC_FULL.match(raw):
            return Decimal(raw)
    elif c == "#":
        if _HEX_FULL.match(raw):
            return _atom("hex", raw)
        if _BIN_FULL.match(raw):
            return _atom("bin", raw)
        return None
    elif c == ":":
        return Keyword(raw) if _KW_FULL.match(raw) else None
    if _SIMPLE_RE.match(raw):
        sym = symbols[raw] = Symbol(raw)
        return sym
    return None


def _parse_fast(text: str, max_depth: int | None) -> list[tuple[SExpr, int]]:
    # Text without strings, quoted symbols or comments: split on parentheses and whitespace.
    forms: list[tuple[SExpr, int]] = []
    stack: list[list] = []
    starts: list[int] = []
    symbols: dict[str, Symbol] = {}
    line, seen = 1, 0
    for m in _FAST.finditer(text):
        tok = m.group()
        if tok == "(":
            if not stack:
                line += text.count("\n", seen, m.start())
                seen = m.start()
            stack.append([])
            starts.append(line)
            if max_depth is not None and len(stack) > max_depth:
                raise ParseError(
                    f"nesting deeper than {max_depth} levels", line + text.count("\n", seen, m.start()), "too-deep"
                )
        elif tok == ")":
            if not stack:
                raise ParseError("unbalanced ')'", line + text.count("\n", seen, m.start()))
            done = tuple(stack.pop())
            start = starts.pop()
            if stack:
                stack[-1].append(done)
            else:
                forms.append((done, start))
        else:
            atom = _classify(tok, symbols)
            if atom is None:
                raise ParseError(f"unexpected text {tok[:20]!r}", line + text.count("\n", seen, m.start()))
            if stack:
                stack[-1].append(atom)
            else:
                line += text.count("\n", seen, m.start())
                seen = m.start()
                forms.append((atom, line))
    if stack:
        raise ParseError(f"unbalanced '(': {len(stack)} left open", starts[-1])
    return forms


def parse_all(text: str, *, max_depth: int | None = None) -> list[tuple[SExpr, int]]:
    """Parse every top-level form of `text`; returns (datum, line of its first token) pairs."""
    if '"' not in text and "|" not in text and ";" not in text:
        return _parse_fast(text, max_depth)
    return _parse_general(text, max_depth)


def _parse_general(text: str, max_depth: int | None) -> list[tuple[SExpr, int]]:
    forms: list[tuple[SExpr, int]] = []
    stack: list[list] = []
    starts: list[int] = []
    for kind, raw, line in tokens(text):
        if kind == "lp":
            stack.append([])
            starts.append(line)
            if max_depth is not None and len(stack) > max_depth:
                raise ParseError(f"nesting deeper than {max_depth} levels", line, "too-deep")
        elif kind == "rp":
            if not stack:
                raise ParseError("unbalanced ')'", line)
            done = tuple(stack.pop())
            start = starts.pop()
            if stack:
                stack[-1].append(done)
            else:
                forms.append((done, start))
        else:
            atom = _atom(kind, raw)
            if stack:
                stack[-1].append(atom)
            else:
                forms.append((atom, line))
    if stack:
        raise ParseError(f"unbalanced '(': {len(stack)} left open", starts[-1])
    return forms


def parse(text: str, *, max_depth: int | None = None) -> list[SExpr]:
    """Parse every top-level form of `text`."""
    return [form for form, _ in parse_all(text, max_depth=max_depth)]


def parse_one(text: str, *, max_depth: int | None = None) -> SExpr:
    """Parse text that holds exactly one form."""
    forms = parse(text, max_depth=max_depth)
    if len(forms) != 1:
        raise ParseError(f"expected one s-expression, found {len(forms)}")
    return forms[0]


def symbol_text(name: str) -> str:
    """How `name` is written as a symbol: plain when possible, else |quoted|."""
    if _SIMPLE_RE.match(name) and not _NEG_INT_RE.match(name):
        return name
    return f"|{name}|"


def atom_text(atom: Atom, *, smtlib: bool = False) -> str:
    """Print one atom; with `smtlib`, negative numerals are written `(- n)`."""
    if isinstance(atom, Symbol):
        return symbol_text(atom)
    if isinstance(atom, (Keyword, Decimal)):
        return str(atom)
    if isinstance(atom, StrLit):
        return '"' + atom.replace('"', '""') + '"'
    if isinstance(atom, BVLit):
        if atom.width % 4 == 0:
            return "#x" + format(atom.value, "0" + str(atom.width // 4) + "x")
        return "#b" + format(atom.value, "0" + str(atom.width) + "b")
    if isinstance(atom, bool):
        return "true" if atom else "false"
    if isinstance(atom, int):
        if atom < 0 and smtlib:
            return f"(- {-atom})"
        return str(atom)
    if isinstance(atom, str):
        return symbol_text(atom)
    raise TypeError(f"not an s-expression atom: {atom!r}")


_CLOSE = object()
_SPACE = object()


def to_text(datum: SExpr, *, smtlib: bool = False) -> str:
    """Print `datum` on one line with single spaces (iteratively, so any depth prints)."""
    out: list[str] = []
    stack: list = [datum]
    while stack:
        item = stack.pop()
        if item is _CLOSE:
            out.append(")")
        elif item is _SPACE:
            out.append(" ")
        elif isinstance(item, tuple):
            out.append("(")
            stack.append(_CLOSE)
            for i in range(len(item) - 1, -1, -1):
                stack.append(item[i])
                if i:
                    stack.append(_SPACE)
        else:
            out.append(atom_text(item, smtlib=smtlib))
    return "".join(out)


def depth(datum: SExpr) -> int:
    """Nesting depth of `datum` (an atom has depth 0)."""
    best = 0
    stack = [(datum, 0)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, tuple):
            d += 1
            best = max(best, d)
            stack.extend((child, d) for child in item)
    return best


def collapse(text: str, rename: Mapping[str, str] | None = None) -> str:
    """Rewrite forms one per line with single spaces, dropping comments; keeps token spelling.

    Symbols named in `rename` are written under their new names.
    """
    lines: list[str] = []
    current: list[str] = []
    level = 0
    prev = ""
    for kind, raw, _ in tokens(text):
        if kind == "lp":
            if current and prev != "lp":
                current.append(" ")
            current.append("(")
            level += 1
        elif kind == "rp":
            current.append(")")
            level -= 1
        else:
            if current and prev != "lp":
                current.append(" ")
            if rename and kind in ("sym", "qsym"):
                name = raw[1:-1] if kind == "qsym" else raw
                raw = symbol_text(rename[name]) if name in rename else raw
            current.append(raw)
        prev = kind
        if level <= 0 and current:
            lines.append("".join(current))
            current = []
            level = 0
    if current:
        lines.append("".join(current))
    return "\n".join(lines)


def indexed_bv_literal(item: tuple) -> BVLit | None:
    """The value of `(_ bvN W)`, SMT-LIB's indexed bit-vector literal; None for any other form."""
    if (
        len(item) == 3
        and isinstance(item[1], Symbol)
        and item[1].startswith("bv")
        and ASCII_DIGITS.match(item[1][2:])
        and len(item[1]) - 2 <= MAX_NUMERAL_DIGITS
        and type(item[2]) is int
        and 0 < item[2] <= MAX_BV_WIDTH
    ):
        return BVLit(int(item[1][2:]) % (1 << item[2]), item[2])
    return None
