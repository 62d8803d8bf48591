"""Static guards on an untrusted Lean candidate, run before anything is elaborated.

A generated proof is Lean source, and Lean source can run arbitrary code while it is being
elaborated (`#eval`, `run_tac`, `elab`, `initialize`), change the rules (`axiom`, `macro`,
`set_option debug.*`), or fake a proof (`sorry`, `native_decide`, restating the theorem).
Each rule here rejects with its own reason `guard:<name>`; docs/lean.md lists them and why.

Words are matched as whole identifiers on the token stream, after comments are dropped, so a
word inside a comment never rejects, and `my_sorry_helper` or `Nat.admit_free` are ordinary
names. The lexer reads identifiers and interpolated strings as Lean does, so every token Lean
reads as code reaches these rules; an identifier is compared in its normalized forms too
(`«»` removed, NFKC, a trailing `?` or `!` dropped), so `bv_decide?` is `bv_decide`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from provers.lean.lexer import Kind, LexError, Token, tokenize
from provers.lean.source import (
    DECL_KEYWORDS,
    MODIFIERS,
    TASK_KEYWORDS,
    LeanTask,
    _keyword_index,
    same_statement,
    statement_end,
)

# Whole identifiers (or `#commands`) and the guard each one trips.
WORDS: dict[str, str] = {
    "sorry": "sorry",
    "sorryAx": "sorry",
    "stop": "sorry",  # `stop tacs` skips the rest of the proof with `repeat sorry`
    "admit": "admit",
    "axiom": "axiom",
    "constant": "constant",
    "opaque": "constant",
    "import": "import",
    "#exit": "exit",
    "macro": "macro",
    "macro_rules": "macro_rules",
    "syntax": "syntax",
    "declare_syntax_cat": "syntax",
    "elab": "elab",
    "elab_rules": "elab",
    "notation": "notation",
    "infix": "notation",
    "infixl": "notation",
    "infixr": "notation",
    "prefix": "notation",
    "postfix": "notation",
    "native_decide": "native_decide",
    "native": "native_decide",  # `decide +native`, `decide (config := {native := true})`
    "ofReduceBool": "native_decide",
    "ofReduceNat": "native_decide",
    "trustCompiler": "native_decide",
    "reduceBool": "native_decide",
    "reduceNat": "native_decide",
    "bv_decide": "native_decide",  # its certificate is checked with Lean.ofReduceBool
    "bv_check": "native_decide",
    # The compiler's axioms: each proves anything.
    "lcProof": "compiler_axiom",
    "lcUnreachable": "compiler_axiom",
    "lcCast": "compiler_axiom",
    "lcAny": "compiler_axiom",
    "lcErased": "compiler_axiom",
    "implemented_by": "implemented_by",
    "extern": "extern",
    "unsafe": "unsafe",
    "#eval": "eval",
    "#eval!": "eval",
    "run_cmd": "run_cmd",
    "run_tac": "run_tac",
    "run_elab": "run_elab",
    "run_meta": "run_meta",
    "by_elab": "by_elab",
    "initialize": "initialize",
    "builtin_initialize": "initialize",
    "simproc": "simproc",
    "dsimproc": "simproc",
}
# Constants matched also as any part of a qualified name (`_root_.sorryAx`, `Lean.ofReduceBool`).
_QUALIFIED = frozenset(
    {
        "sorryAx",
        "ofReduceBool",
        "ofReduceNat",
        "reduceBool",
        "reduceNat",
        "trustCompiler",
        "native_decide",
        "lcProof",
        "lcUnreachable",
        "lcCast",
        "lcAny",
        "lcErased",
    }
)
# Only these options may be set (with `set_option ... in`); see docs/lean.md.
ALLOWED_OPTIONS = frozenset(
    {
        "maxHeartbeats",
        "maxRecDepth",
        "synthInstance.maxHeartbeats",
        "synthInstance.maxSize",
        "exponentiation.threshold",
        "push_neg.use_distrib",
    }
)
ALLOWED_OPTION_PREFIXES = ("linter.",)
# Commands that may legitimately sit in front of a tactic or term when followed by `in`.
_SCOPED_BY_IN = frozenset({"open", "set_option"})
# Commands that reshape the scope the theorem's name is resolved in.
_SCOPE_COMMANDS = frozenset({"namespace", "section", "end"})
# Other top-level commands: a proof is one term or tactic block, never new commands.
_COMMANDS = frozenset(
    {"universe", "variable", "attribute", "export", "mutual", "deriving", "omit", "include", "alias"}
) | MODIFIERS - {"local", "scoped"}


@dataclass(frozen=True)
class GuardResult:
    """Either the proof text to elaborate (`reason` empty) or why the candidate is rejected."""

    proof: str = ""
    reason: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def _reject(guard: str, message: str) -> GuardResult:
    return GuardResult(reason=f"guard:{guard}", message=message)


def _bare(word: str) -> str:
    return word.replace("«", "").replace("»", "")


def _last(name: str) -> str:
    return _bare(name).rsplit(".", 1)[-1]


def forms(word: str) -> set[str]:
    """The forms of an identifier the rules compare: as written without `«»`, NFKC-normalized
    (`𝓈𝑜𝓇𝓇𝓎` is `sorry`), each with its trailing `?`/`!` dropped (`bv_decide?` is `bv_decide`)."""
    bare = _bare(word)
    out = {bare, unicodedata.normalize("NFKC", bare)}
    return out | {".".join(part.rstrip("?!") for part in w.split(".")) for w in out}


def forbidden(word: str) -> str | None:
    """The guard a whole identifier (or `#command`) trips, or None."""
    for form in forms(word):
        if form in WORDS:
            return WORDS[form]
        hit = next((part for part in form.split(".") if part in _QUALIFIED), None)
        if hit is not None:
            return WORDS[hit]
    return None


def check_candidate(candidate: str, task: LeanTask) -> GuardResult:
    """Run every static guard on `candidate`; on success return the proof part to elaborate."""
    try:
        tokens = tokenize(candidate)
    except LexError as e:
        return _reject("lexer", f"line {e.line}: {e}")
    if tokens and tokens[0].kind is Kind.SYMBOL and tokens[0].text == ":=":
        candidate = candidate[tokens[0].end :]
        tokens = tokenize(candidate)  # offsets must refer to the text that is used
    first = _keyword_index(tokens)
    if first < len(tokens) and tokens[first].text in TASK_KEYWORDS:
        restated = _strip_statement(candidate, tokens, task)
        if not restated.ok:
            return restated
        candidate = restated.proof
        tokens = tokenize(candidate)
    if not tokens:
        return _reject("empty", "the candidate has no proof")
    hit = scan(tokens, task.name)
    if hit is not None:
        return hit
    return GuardResult(proof=candidate.strip())


def _strip_statement(candidate: str, tokens: list[Token], task: LeanTask) -> GuardResult:
    """A candidate that repeats the statement must repeat it exactly; return the proof after it."""
    assign = statement_end(tokens, _keyword_index(tokens))
    if assign is None:
        return _reject("statement", "the candidate states a theorem without `:=`")
    written = candidate[tokens[0].start : tokens[assign].end]
    if not (same_statement(written, task.statement) or same_statement(written, task.original_statement)):
        return _reject("statement", "the candidate's statement differs from the problem's")
    return GuardResult(proof=candidate[tokens[assign].end :])


def scan(tokens: list[Token], theorem: str) -> GuardResult | None:
    """The first guard the token stream trips, or None."""
    for i, tok in enumerate(tokens):
        if tok.kind not in (Kind.IDENT, Kind.COMMAND):
            continue
        hit = _word_guard(tok.text, tokens, i) or _command_guard(tok, tokens, i, theorem)
        if hit is not None:
            return hit
    return None


def _word_guard(word: str, tokens: list[Token], i: int) -> GuardResult | None:
    bare = _bare(word)
    if any(form.startswith("debug.") for form in forms(word)):
        return _reject("debug_option", f"`{bare}` is a debugging option that can disable checking")
    if bare == "eval" and i + 1 < len(tokens) and tokens[i + 1].text == "%":
        return _reject("eval", "`eval%` runs code while elaborating")
    guard = forbidden(word)
    if guard is not None:
        return _reject(guard, f"`{bare}` is not allowed in a proof")
    return None


def _command_guard(tok: Token, tokens: list[Token], i: int, theorem: str) -> GuardResult | None:
    word = tok.text
    if word == "set_option":
        return _option_guard(tokens, i)
    if word in _SCOPED_BY_IN:
        return None if _followed_by_in(tokens, i) else _reject("command", f"`{word}` without `in` is a new command")
    if word in _SCOPE_COMMANDS:
        return _reject("shadow", f"`{word}` changes the scope the theorem is checked in")
    if word in DECL_KEYWORDS:
        name = tokens[i + 1].text if i + 1 < len(tokens) and tokens[i + 1].kind is Kind.IDENT else ""
        if name and _last(name) == _last(theorem):
            return _reject("shadow", f"`{word} {name}` restates or shadows the theorem")
        return _reject("command", f"`{word}` starts a new declaration; a proof is one term or tactic block")
    if word in _COMMANDS or (tok.kind is Kind.COMMAND and word not in WORDS):
        return _reject("command", f"`{word}` is a command; a proof is one term or tactic block")
    return None


def _option_guard(tokens: list[Token], i: int) -> GuardResult | None:
    name = _bare(tokens[i + 1].text) if i + 1 < len(tokens) else ""
    if name.startswith("debug."):
        return _reject("debug_option", f"`set_option {name}` can disable checking")
    if name not in ALLOWED_OPTIONS and not name.startswith(ALLOWED_OPTION_PREFIXES):
        return _reject("set_option", f"`set_option {name}` is not on the list of allowed options")
    if not _followed_by_in(tokens, i):
        return _reject("command", "`set_option` without `in` is a new command")
    return None


def _followed_by_in(tokens: list[Token], i: int) -> bool:
    """Whether `in` ends the command at tokens[i] on the same line (`open Real in`)."""
    line = tokens[i].line
    for tok in tokens[i + 1 :]:
        if tok.line != line:
            return False
        if tok.kind is Kind.IDENT and tok.text == "in":
            return True
    return False
