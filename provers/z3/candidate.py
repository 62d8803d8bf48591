"""Untrusted candidate text: reading it under limits, normalising it, its canonical form.

A candidate is one or more `(define-fun NAME ((PARAM SORT) ...) SORT BODY)` forms. Reading
refuses, in this order: more than `MAX_BYTES` ("too-large", before any tokenising), text that
is not UTF-8 ("encoding"), malformed s-expressions ("parse"), nesting deeper than `MAX_DEPTH`
("too-deep") and anything but `define-fun` ("command").

`normalise` rewrites one definition the way both the checker and `canonical` see it: `let`
expanded (bound terms shared, not copied; unused bindings dropped), `(- n)` read as the
literal `-n`, `(_ bvN w)` as a bit-vector literal, and parameters renamed positionally to
names that occur nowhere else in the candidate. Because the checker elaborates exactly this
normal form, two candidates with the same canonical text get the same verdict. Definitions
where renaming could change meaning (duplicate parameters, a parameter named like a defined
function, a parameter or let-bound name used as a function, binders) are left alone: the
checker reads them as written and `canonical` prints them as parsed, marked `; raw:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provers.z3.sexpr import ParseError, SExpr, Symbol, indexed_bv_literal, parse_all, to_text

MAX_BYTES = 1_000_000
MAX_DEPTH = 2_000
# Let expansion may deepen a term: the expanded body is held to a slightly lower limit so that
# its printed canonical form stays within MAX_DEPTH.
MAX_TERM_DEPTH = MAX_DEPTH - 8
MAX_TERM_NODES = 200_000
MAX_CANONICAL_NODES = 100_000

_BINDERS = {"forall", "exists", "lambda", "match", "!", "as", "par"}


class Rejection(Exception):
    """A candidate refused before or during checking: becomes a rejected Verdict."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True)
class Definition:
    """One define-fun of a candidate, as written."""

    name: str
    params: tuple[tuple[str, SExpr], ...]
    sort: SExpr
    body: SExpr
    line: int

    def sexpr(self) -> SExpr:
        params = tuple((Symbol(p), sort) for p, sort in self.params)
        return (Symbol("define-fun"), Symbol(self.name), params, self.sort, self.body)


@dataclass(frozen=True)
class Normalised:
    """A definition in normal form: `body` mentions parameter i as the symbol `names[i]`."""

    definition: Definition
    names: tuple[str, ...]
    body: SExpr

    def sexpr(self) -> SExpr:
        params = tuple((Symbol(n), sort) for n, (_, sort) in zip(self.names, self.definition.params))
        return (Symbol("define-fun"), Symbol(self.definition.name), params, self.definition.sort, self.body)


def decode(candidate: str | bytes) -> str:
    """The candidate as text, refusing oversized or non-UTF-8 input before any tokenising."""
    if isinstance(candidate, (bytes, bytearray, memoryview)):
        raw = bytes(candidate)
        if len(raw) > MAX_BYTES:
            raise Rejection("too-large", f"candidate is {len(raw)} bytes; the limit is {MAX_BYTES}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Rejection("encoding", f"candidate is not UTF-8 text (byte {e.start})") from None
    if not isinstance(candidate, str):
        raise Rejection("parse", f"candidate must be text, got {type(candidate).__name__}")
    if len(candidate) > MAX_BYTES:
        raise Rejection("too-large", f"candidate is {len(candidate)} characters; the limit is {MAX_BYTES} bytes")
    try:
        size = len(candidate.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise Rejection("encoding", f"candidate holds characters that are not valid UTF-8 (at {e.start})") from None
    if size > MAX_BYTES:
        raise Rejection("too-large", f"candidate is {size} bytes; the limit is {MAX_BYTES}")
    return candidate


def read(candidate: str | bytes) -> list[Definition]:
    """Parse a candidate into its definitions; raises Rejection."""
    text = decode(candidate)
    try:
        forms = parse_all(text, max_depth=MAX_DEPTH)
    except ParseError as e:
        where = f"line {e.line}: " if e.line else ""
        raise Rejection(e.reason, where + e.message) from None
    if not forms:
        raise Rejection("parse", "empty candidate: expected (define-fun NAME ((PARAM SORT) ...) SORT BODY)")
    return [_definition(form, line) for form, line in forms]


def _definition(form: SExpr, line: int) -> Definition:
    if not isinstance(form, tuple) or not form or form[0] != "define-fun" or not isinstance(form[0], Symbol):
        shown = to_text(form)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise Rejection("command", f"line {line}: only define-fun is allowed, found {shown}")
    if len(form) != 5 or not isinstance(form[1], Symbol) or not isinstance(form[2], tuple):
        raise Rejection(
            "parse", f"line {line}: malformed define-fun: expected (define-fun NAME ((PARAM SORT) ...) SORT BODY)"
        )
    params = []
    for item in form[2]:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Symbol)):
            raise Rejection("parse", f"line {line}: malformed parameter {to_text(item)} of {form[1]}")
        params.append((str(item[0]), item[1]))
    return Definition(str(form[1]), tuple(params), form[3], form[4], line)


class _Unsafe(Exception):
    pass


def rename_prefix(definitions: list[Definition]) -> str:
    """A prefix p such that no symbol of the candidate has the form p followed by digits."""
    longest = 0
    pattern = re.compile(r"(_+)\d+\Z")
    for d in definitions:
        stack: list = [d.body, d.sort, *(p for p, _ in d.params), *(s for _, s in d.params)]
        while stack:
            item = stack.pop()
            if isinstance(item, tuple):
                stack.extend(item)
            elif isinstance(item, str):
                m = pattern.match(item)
                if m:
                    longest = max(longest, len(m.group(1)))
    return "_" * (longest + 1)


def normalise(definition: Definition, function_names: set[str], prefix: str) -> Normalised | None:
    """The normal form of one definition, or None where renaming would not be safe."""
    names = [p for p, _ in definition.params]
    if len(set(names)) != len(names) or any(n in function_names for n in names):
        return None
    renamed = {n: Symbol(f"{prefix}{i}") for i, n in enumerate(names)}
    try:
        body = _expand(definition.body, renamed)
    except _Unsafe:
        return None
    return Normalised(definition, tuple(renamed[n] for n in names), body)


_EVAL, _LETBODY, _BUILD = range(3)


def _expand(datum: SExpr, params: dict[str, Symbol]) -> SExpr:
    """Expand lets, normalise literals and rename parameters (iteratively; output is a DAG)."""
    values: list[SExpr] = []
    work: list[tuple[int, SExpr, dict | None]] = [(_EVAL, datum, None)]
    while work:
        tag, item, env = work.pop()
        if tag == _EVAL:
            if not isinstance(item, tuple):
                if isinstance(item, Symbol):
                    if env and item in env:
                        item = env[item]
                    elif item in params:
                        item = params[item]
                values.append(item)
                continue
            if not item:
                # `()` is no term; leave it to the checker to reject as written.
                raise _Unsafe
            head = item[0]
            if isinstance(head, Symbol) and ((env and head in env) or head in params or head in _BINDERS):
                raise _Unsafe
            if head == "let" and isinstance(head, Symbol):
                if len(item) != 3 or not isinstance(item[1], tuple) or not item[1]:
                    raise _Unsafe
                bound = set()
                for b in item[1]:
                    if not (isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], Symbol)) or b[0] in bound:
                        raise _Unsafe
                    bound.add(b[0])
                work.append((_LETBODY, item, env))
                work.extend((_EVAL, b[1], env) for b in reversed(item[1]))
            elif head == "_" and isinstance(head, Symbol):
                values.append(_indexed_literal(item))
            else:
                work.append((_BUILD, item, env))
                work.extend((_EVAL, a, env) for a in reversed(item[1:]))
        elif tag == _LETBODY:
            n = len(item[1])
            bound_values = values[len(values) - n :]
            del values[len(values) - n :]
            new_env = dict(env) if env else {}
            for b, v in zip(item[1], bound_values):
                new_env[b[0]] = v
            work.append((_EVAL, item[2], new_env))
        else:
            n = len(item) - 1
            args = tuple(values[len(values) - n :])
            del values[len(values) - n :]
            if (
                item[0] == "-"
                and isinstance(item[0], Symbol)
                and len(args) == 1
                and type(args[0]) is int
                and args[0] > 0
            ):
                values.append(-args[0])
            else:
                values.append((item[0], *args))
    return values[0]


def _indexed_literal(item: tuple) -> SExpr:
    literal = indexed_bv_literal(item)
    return item if literal is None else literal


def normal_forms(candidate: str | bytes) -> tuple[list[Definition], list[Normalised | None]]:
    """Read a candidate and normalise each definition (None where it is read as written)."""
    definitions = read(candidate)
    names = {d.name for d in definitions}
    prefix = rename_prefix(definitions)
    return definitions, [normalise(d, names, prefix) for d in definitions]


def _tree_size(root: SExpr, limit: int) -> int:
    """Size of `root` printed as a tree (shared nodes counted each time), capped past `limit`."""
    size: dict[int, int] = {}
    stack: list[tuple[SExpr, bool]] = [(root, False)]
    while stack:
        item, done = stack.pop()
        if not isinstance(item, tuple):
            continue
        if done:
            size[id(item)] = 1 + sum(size.get(id(c), 1) for c in item)
            if size[id(item)] > limit:
                return size[id(item)]
        elif id(item) not in size:
            stack.append((item, True))
            stack.extend((c, False) for c in item if isinstance(c, tuple) and id(c) not in size)
    return size.get(id(root), 1)


def canonical(candidate: str | bytes) -> str:
    """The dedup key of a candidate: its normal form on one line, or a marked raw form."""
    try:
        definitions, forms = normal_forms(candidate)
    except Rejection as e:
        if isinstance(candidate, (bytes, bytearray, memoryview)):
            text = bytes(candidate[: MAX_BYTES + 1]).decode("utf-8", "replace")
        elif isinstance(candidate, str):
            # Lone surrogates become "?": every such text is refused as "encoding" anyway.
            text = candidate[: MAX_BYTES + 1].encode("utf-8", "replace").decode("utf-8")
        else:
            text = repr(candidate)
        return f"; {e.reason}: " + " ".join(text.split())
    if any(f is None for f in forms) or any(
        _tree_size(f.body, MAX_CANONICAL_NODES) > MAX_CANONICAL_NODES
        for f in forms  # type: ignore[union-attr]
    ):
        # The checker only sees the parsed forms, so their printed text is a faithful key.
        return "; raw: " + " ".join(to_text(d.sexpr()) for d in definitions)
    return " ".join(to_text(f.sexpr()) for f in forms)  # type: ignore[union-attr]


def extract(completion: str) -> str:
    """The consecutive `(define-fun ...)` forms at the start of a completion ("" if none)."""
    text = completion.lstrip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1].lstrip() if "\n" in text else ""
    out: list[str] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith("(define-fun", pos) or not (
            pos + 11 < len(text) and (text[pos + 11].isspace() or text[pos + 11] == "(")
        ):
            break
        end = _balanced_end(text, pos)
        if end is None:
            break
        out.append(text[pos:end])
        pos = end
    return "\n".join(out)


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the balanced form opening at `start` (strings, |symbols| and comments skipped)."""
    level = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "(":
            level += 1
        elif ch == ")":
            level -= 1
            if level == 0:
                return i + 1
        elif ch == ";":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif ch in '"|':
            close = text.find(ch, i + 1)
            while ch == '"' and close >= 0 and text.startswith('""', close):
                close = text.find(ch, close + 2)
            if close < 0:
                return None
            i = close
        i += 1
    return None
