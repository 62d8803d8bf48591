"""How a model sees a SyGuS problem, and how its answer becomes a candidate again.

The prompt is the problem without comments, one command per line, with two changes that make
problems of one kind look alike to a model:

- its variables (the synth-fun parameters and the declared variables) are renamed, in order of
  appearance, to short standard names: x, y, z, w, ... A model then learns one way to write
  `max` instead of one per spelling of its arguments. The renaming is a bijection onto names
  the problem does not use, so the prompt states the same problem;
- it ends with `; solution:` and the opening of the first function's definition,
  `(define-fun f ((x Int) (y Int)) Int `, so the model writes only the body;
- in integer problems, numerals other than 0 and 1 become placeholders k0, k1, ... in order of
  appearance, listed in a first `; literals: k0=17 k1=5` line. A model then copies one short
  symbol (as it copies a variable) instead of spelling a number it has to read off the
  constraints; `extract` writes the numbers back, so the checker sees an ordinary candidate.

Parameter names are local to a `define-fun`, so a candidate written against the renamed header
solves the original problem as it stands: the checker reads it against the problem file, never
against the prompt. `complete` puts the header back in front of a completion; `target` is its
inverse, re-expressing any candidate (a reference solution, a grammar sample) as the completion
a model should write after the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import count

from provers.z3 import candidate as _candidate
from provers.z3.sexpr import SExpr, Symbol, collapse, symbol_text, to_text, tokens
from provers.z3.sygus import SygusProblem, SynthFun

MARKER = "; solution:\n"
LEGEND = "; literals:"
_NUMERAL = re.compile(r"(?<=[ (])([0-9]+)(?=[ )\n]|\Z)")
_PLACEHOLDER = re.compile(r"(?<![^\s()])(k[0-9]+)(?![^\s()])")
# Where sampling ends an answer: an answer is define-fun forms only (several on separate lines
# for multi-function problems, never with a blank line or a comment between them, see
# `target`), so a line opening any other SyGuS command is the model running on into a new
# problem. These are the commands that follow the answer's place in a problem's text.
STOP = ("\n(constraint", "\n(check-synth", "\n(declare-", "\n(inv-constraint")
NAMES = ("x", "y", "z", "w", "v", "u", "t", "s", "r", "q", "p", "a", "b", "c", "d", "e")


def header(fun: SynthFun, rename: Mapping[str, str] | None = None) -> str:
    """`(define-fun NAME ((PARAM SORT) ...) SORT ` for `fun`, its parameters renamed by `rename`."""
    rename = rename or {}
    params = " ".join(f"({symbol_text(rename.get(p, p))} {s})" for p, s in fun.params)
    return f"(define-fun {symbol_text(fun.name)} ({params}) {fun.sort} "


def symbols_of(text: str) -> set[str]:
    """Every symbol written in `text` (quoted symbols without their bars)."""
    return {raw[1:-1] if kind == "qsym" else raw for kind, raw, _ in tokens(text) if kind in ("sym", "qsym")}


def renaming(problem: SygusProblem, symbols: Iterable[str]) -> dict[str, str]:
    """Variables -> standard names, in order of appearance; `symbols` are all the problem's symbols.

    Names of functions and nonterminals are never renamed, and no variable is given a name the
    problem already uses for anything else, so the renaming cannot capture. A primed state
    variable (`x!`) follows its unprimed name.
    """
    taken = set(symbols)
    fixed = {f.name for f in problem.synth_funs} | {h.name for h in problem.helpers}
    for fun in problem.synth_funs:
        if fun.grammar is not None:
            fixed |= {nt.name for nt in fun.grammar.nonterminals}
    ordered: list[str] = []
    for name in [p for f in problem.synth_funs for p, _ in f.params] + [v for v, _ in problem.variables]:
        if name not in ordered and name not in fixed and not (name.endswith("!") and name[:-1] in ordered):
            ordered.append(name)
    free = taken - set(ordered) - {f"{n}!" for n in ordered}
    fresh = (name for name in _standard_names() if name not in free and f"{name}!" not in free)
    out: dict[str, str] = {}
    for name in ordered:
        new = next(fresh)
        out[name] = new
        if f"{name}!" in taken:
            out[f"{name}!"] = f"{new}!"
    return out


def _standard_names():
    yield from NAMES
    for i in count(1):
        yield f"x{i}"


def prompt(text: str, problem: SygusProblem, *, literals: bool = True) -> str:
    """The model's view of the problem in `text` (see the module docstring).

    `literals=False` keeps the numerals as written (the normal form that problem audits compare).
    """
    symbols = symbols_of(text)
    rename = renaming(problem, symbols)
    body = collapse(text, rename=rename)
    opening = header(problem.synth_funs[0], rename) if problem.synth_funs else ""
    legend = ""
    if literals and _placeholders_apply(problem, body, symbols):
        numbers = literal_placeholders(body)
        if numbers:
            body = _NUMERAL.sub(lambda m: numbers.get(m.group(1), m.group(1)), body)
            legend = f"{LEGEND} {' '.join(f'{name}={value}' for value, name in numbers.items())}\n"
    return f"{legend}{body}\n{MARKER}{opening}"


def _placeholders_apply(problem: SygusProblem, body: str, symbols: set[str]) -> bool:
    """Integer problems only (a bit-vector width is a numeral too), and no k<digits> symbol of its own."""
    if "BV" in (problem.logic or "") or "|" in body or '"' in body:
        return False
    return not any(_PLACEHOLDER.fullmatch(s) for s in symbols)


def literal_placeholders(body: str) -> dict[str, str]:
    """Numeral -> placeholder, in order of first appearance; 0 and 1 stay numerals."""
    out: dict[str, str] = {}
    for m in _NUMERAL.finditer(body):
        value = str(int(m.group(1)))
        if m.group(1) == value and int(value) > 1 and value not in out:
            out[value] = f"k{len(out)}"
    return out


def legend_of(prompt_text: str) -> dict[str, str]:
    """Placeholder -> numeral, from the prompt's `; literals:` line ({} without one).

    The problem's prompt starts with its legend; a prompt built around it (a retry shows a failed
    candidate and its counterexample first) ends with it, so the last legend line counts."""
    at = prompt_text.rfind("\n" + LEGEND)
    start = at + 1 if at >= 0 else (0 if prompt_text.startswith(LEGEND) else -1)
    if start < 0:
        return {}
    end = prompt_text.find("\n", start)
    line = prompt_text[start + len(LEGEND) : end if end >= 0 else len(prompt_text)]
    return dict(item.split("=", 1) for item in line.split() if "=" in item)


def unplace(candidate: str, prompt_text: str) -> str:
    """`candidate` with the prompt's placeholders written back as the numerals they stand for."""
    legend = legend_of(prompt_text)
    if not legend:
        return candidate
    return _PLACEHOLDER.sub(lambda m: legend.get(m.group(1), m.group(1)), candidate)


def place(completion: str, prompt_text: str) -> str:
    """`completion` with each numeral the prompt's legend lists written as its placeholder."""
    numbers = {value: name for name, value in legend_of(prompt_text).items()}
    if not numbers:
        return completion
    return _NUMERAL.sub(lambda m: numbers.get(m.group(1), m.group(1)), " " + completion)[1:]


def answer_prefix(prompt_text: str) -> str:
    """The start of the answer that `prompt_text` ends with ("" for a prompt without one)."""
    at = prompt_text.rfind(MARKER)
    return prompt_text[at + len(MARKER) :] if at >= 0 else ""


def complete(completion: str, prompt_text: str = "") -> str:
    """The answer text: the prompt's opening plus the completion, unless the completion restarts it.

    A completion that begins a definition or a code block of its own (as chat models write)
    is taken as the whole answer.
    """
    start = completion.lstrip()
    if start.startswith("(define-fun") or start.startswith("```"):
        return completion
    return answer_prefix(prompt_text) + completion


def target(prompt_text: str, candidate: str) -> str | None:
    """The completion that, written after `prompt_text`, gives `candidate` (up to parameter names).

    None when the candidate cannot be written that way: it does not parse, its first definition
    is not the function the prompt opens (another name, arity or sort), or placeholders would
    change it (a candidate that binds a name like `k0` itself): what a model is trained to write
    must extract to the candidate that was checked, parameter names aside.
    """
    written = _target(prompt_text, candidate)
    if written is None:
        return None
    placed = place(written, prompt_text)
    back = unplace(_candidate.extract(complete(placed, prompt_text)), prompt_text)
    try:
        same = _candidate.canonical(back) == _candidate.canonical(candidate)
    except _candidate.Rejection:
        same = False
    return placed if same else None


def _target(prompt_text: str, candidate: str) -> str | None:
    prefix = answer_prefix(prompt_text)
    text = candidate.lstrip()
    if not prefix or text.startswith(prefix):
        return text[len(prefix) :]
    try:
        opening = _candidate.read(prefix + "0)")[0]
        definitions = _candidate.read(candidate)
    except _candidate.Rejection:
        return None
    first = definitions[0]
    old = [p for p, _ in first.params]
    new = [p for p, _ in opening.params]
    if (
        first.name != opening.name
        or first.sort != opening.sort
        or [s for _, s in first.params] != [s for _, s in opening.params]
        or len(set(old)) != len(old)
    ):
        return None
    mapping = dict(zip(old, new))
    if set(new) & (symbols_of(to_text(first.body)) - set(old)):
        return None  # the body uses a header name for something else: renaming would capture it
    rest = [to_text(d.sexpr()) for d in definitions[1:]]
    return "\n".join([to_text(_substitute(first.body, mapping)) + ")", *rest])


def _substitute(datum: SExpr, mapping: Mapping[str, str]) -> SExpr:
    """`datum` with every symbol in `mapping` replaced, binders included (iterative)."""

    def atom(item: SExpr) -> SExpr:
        return Symbol(mapping[item]) if isinstance(item, Symbol) and item in mapping else item

    if not isinstance(datum, tuple):
        return atom(datum)
    out: list[list] = [[], []]  # the result, then the children of `datum`
    stack: list = [(datum, 0)]
    while stack:
        node, i = stack.pop()
        if i == len(node):
            done = tuple(out.pop())
            out[-1].append(done)
            continue
        stack.append((node, i + 1))
        child = node[i]
        if isinstance(child, tuple):
            out.append([])
            stack.append((child, 0))
        else:
            out[-1].append(atom(child))
    return out[0][0]


def normal_form(text: str, problem: SygusProblem) -> str:
    """The problem as a model would see it with every name made canonical and numerals kept.

    Variables are renamed as in the prompt, and the functions to synthesise become F0, F1, ...;
    two problems with the same normal form differ only in spelling (what dedup and audits compare).
    """
    symbols = symbols_of(text)
    rename = renaming(problem, symbols)
    rename.update({f.name: f"F{i}" for i, f in enumerate(problem.synth_funs)})
    return collapse(text, rename=rename)
