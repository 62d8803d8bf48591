"""A Lean 4 lexer whose token boundaries are Lean's own: enough to find commands, statements and
forbidden words reliably.

It is not a parser. It splits source text into tokens the way Lean 4.35's token functions do
(`Lean.Parser.Basic`: `whitespace`, `finishCommentBlock`, `strLitFnAux`, `charLitFnAux`,
`rawStrLitFnAux`, `identFnAux`, `numberFnAux`; `Lean.Parser.StrInterpolation`:
`interpolatedStrFn`), ported function by function, so that text Lean reads as code is code here
and text Lean skips (comments, literals) is skipped here. The details that matter for soundness:

- after `/-` Lean consumes one more character without looking at it, so `/-/- -/` is one
  complete comment, and nesting counts `/-` and `-/` as `finishCommentBlock` does;
- `/--` and `/-!` are doc-comment tokens whose body is skipped the same way;
- a plain string literal has no interpolation: a brace inside it is a character. A string
  directly after `s!`, `m!` or `f!` is interpolated: the code between its braces is code.
  Whether any other string is interpolated depends on syntax the lexer cannot see
  (`throwError "..."`, `dbg_trace "..."`, a notation of the header), so a string that is not
  after one of those prefixes and holds a `{` fails to lex under `braces="reject"` (what the
  guards use: `guard:lexer`); `braces="plain"` reads it as Lean's plain string literal does
  (what the problem-file splitter uses on trusted text);
- lexical errors Lean reports (unterminated literals and comments, bad escapes, a character
  literal without its closing quote, a tab or a lone carriage return between tokens) are
  LexErrors here too.

Identifiers follow Lean's rules (`isIdFirst`, `isIdRest`, `isLetterLike`) and are read whole,
dots and `«»` included, so `my_sorry_helper` or `Nat.lemma_x` are single identifiers, never the
keywords they contain, and `sorryᶜ` is `sorry` then `ᶜ`, as in Lean. tests/test_lean_lexer_real.py
checks the boundaries against the real binary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal


class Kind(str, Enum):
    IDENT = "ident"
    COMMAND = "command"  # `#eval`, `#print`, `#exit`, ...
    STRING = "string"
    CHAR = "char"
    NUMBER = "number"
    SYMBOL = "symbol"
    COMMENT = "comment"
    DOC = "doc"  # `/-- ... -/` and `/-! ... -/`


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    start: int  # offset into the source
    end: int
    line: int  # 1-based
    column: int  # 0-based, in characters, as Lean reports positions


class LexError(ValueError):
    """A lexical error (as Lean reports one), or a string the lexer cannot read for certain;
    carries the 1-based line where it is."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


Braces = Literal["reject", "plain"]
# Tokens after which Lean reads a string literal as interpolated (`interpolatedStr(term)`).
INTERPOLATING = frozenset({"s!", "m!", "f!"})

# Longest first, so `:=` wins over `:`; anything else is a one-character symbol. `''` is
# Mathlib's image notation: Lean's tokenFnAux reads a quote followed by a quote as a token, not
# as the start of a character literal.
_SYMBOLS = sorted(
    [":=", "=>", "<;>", "<|>", "<|", "|>", "->", "<-", "←", "→", "↔", "::", "..", "...", "@[", "%[", "''"],
    key=len,
    reverse=True,
)
OPEN_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "@[": "]", "%[": "]", "‹": "›"}
CLOSE_BRACKETS = {v for v in OPEN_BRACKETS.values()}
_QUOTABLE = frozenset("\\\"'rnt")  # isQuotableCharDefault
_HEX = frozenset("0123456789abcdefABCDEF")
_LEAN_WHITESPACE = frozenset(" \t\r\n")  # Char.isWhitespace


def is_letter_like(c: str) -> bool:
    """Lean's `isLetterLike`: the non-ASCII letters Lean allows in identifiers, and no others
    (so `sorryᶜ` is `sorry` followed by the symbol `ᶜ`, as Lean reads it). The ranges are those
    of Lean 4.35, checked code point by code point against the real binary."""
    v = ord(c)
    return (
        (0xC0 <= v <= 0x17F and v not in (0xD7, 0xF7))  # Latin-1 letters and Latin Extended-A
        or (0x3B1 <= v <= 0x3C9 and v != 0x3BB)  # lower Greek, but λ
        or (0x391 <= v <= 0x3A9 and v not in (0x3A0, 0x3A3))  # upper Greek, but Π and Σ
        or 0x3CA <= v <= 0x3FB  # Coptic
        or 0x1F00 <= v <= 0x1FFE  # polytonic Greek
        or 0x2100 <= v <= 0x214F  # letter-like symbols (ℕ, ℝ, ...)
        or 0x1D49C <= v <= 0x1D59F  # script, double-struck and fraktur letters
    )


def is_subscript(c: str) -> bool:
    """Lean's `isSubScriptAlnum`: subscript digits and letters."""
    v = ord(c)
    return 0x2080 <= v <= 0x2089 or 0x2090 <= v <= 0x209C or 0x1D62 <= v <= 0x1D6A


def _ascii_letter(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_ident_start(c: str) -> bool:
    # Lean's `isIdFirst`: ASCII letters, `_` and letter-like characters; nothing else, so a
    # modifier letter, superscript or Cyrillic letter after a word is a token of its own.
    return _ascii_letter(c) or c == "_" or is_letter_like(c)


def _is_ident_rest(c: str) -> bool:
    # Lean's `isIdRest`.
    return _is_ident_start(c) or _is_digit(c) or c in "'!?" or is_subscript(c)


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


class _Scanner:
    """The text, a position, and the line bookkeeping for token positions."""

    def __init__(self, text: str, braces: Braces):
        self.text = text
        self.braces = braces
        self.i = 0
        self.line = 1
        self.line_start = 0

    def at(self, j: int) -> str:
        """The character at j, or "" past the end (Lean's `String.get` gives a default there)."""
        return self.text[j] if j < len(self.text) else ""

    def line_of(self, j: int) -> int:
        return self.line + self.text.count("\n", self.i, j)

    def error(self, message: str, j: int | None = None) -> LexError:
        return LexError(message, self.line if j is None else self.line_of(j))

    def _advance_to(self, j: int) -> None:
        nl = self.text.count("\n", self.i, j)
        if nl:
            self.line += nl
            self.line_start = self.text.rfind("\n", self.i, j) + 1
        self.i = j

    def token(self, kind: Kind, j: int) -> Token:
        tok = Token(kind, self.text[self.i : j], self.i, j, self.line, self.i - self.line_start)
        self._advance_to(j)
        return tok

    # -- comments ------------------------------------------------------------------------

    def finish_comment_block(self, j: int, nesting: int = 1) -> int:
        """`finishCommentBlock`: the end of a block comment whose body starts at j."""
        text = self.text
        while True:
            if j >= len(text):
                raise self.error("unterminated comment", j)
            curr = text[j]
            j += 1
            if curr == "-":
                if j >= len(text):
                    raise self.error("unterminated comment", j)
                if text[j] == "/":
                    j += 1
                    if nesting == 1:
                        return j
                    nesting -= 1
            elif curr == "/":
                if j >= len(text):
                    raise self.error("unterminated comment", j)
                if text[j] == "-":
                    j += 1
                    nesting += 1

    # -- literals ------------------------------------------------------------------------

    def quoted_char(self, j: int, in_string: bool, interpolated: bool = False) -> int:
        """`quotedCharCoreFn` at j (just after a backslash): the end of the escape."""
        text = self.text
        if j >= len(text):
            raise self.error("unexpected end of input in an escape", j)
        curr = text[j]
        if curr in _QUOTABLE or (interpolated and curr == "{"):
            return j + 1
        if curr in "xu":
            digits = 2 if curr == "x" else 4
            k = j + 1
            for _ in range(digits):
                if self.at(k) not in _HEX or not self.at(k):
                    raise self.error("invalid hexadecimal numeral", k)
                k += 1
            return k
        if in_string and curr == "\n":
            return self.string_gap(j)
        if curr == "{" and self.braces == "reject":
            raise self.error(_BRACE_MESSAGE, j)
        raise self.error("invalid escape sequence", j)

    def string_gap(self, j: int) -> int:
        """`stringGapFn`: after `\\` newline, whitespace with exactly one newline."""
        seen_newline = False
        while j < len(self.text):
            curr = self.text[j]
            if curr == "\n":
                if seen_newline:
                    raise self.error("unexpected additional newline in string gap", j)
                seen_newline = True
            elif curr not in _LEAN_WHITESPACE:
                if not seen_newline:
                    raise self.error("expecting newline in string gap", j)
                return j
            j += 1
        return j

    def plain_string_end(self, j: int) -> int:
        """`strLitFnAux`: the end of the plain string literal whose body starts at j."""
        text, start = self.text, j - 1
        while True:
            if j >= len(text):
                raise self.error("unterminated string literal", start)
            curr = text[j]
            j += 1
            if curr == '"':
                return j
            if curr == "\\":
                j = self.quoted_char(j, in_string=True)
            elif curr == "{" and self.braces == "reject":
                raise self.error(_BRACE_MESSAGE, j - 1)

    def char_end(self) -> int:
        """`charLitFnAux` at a `'` that is not followed by another `'`."""
        j = self.i + 1
        if j >= len(self.text):
            raise self.error("unexpected end of input in a character literal")
        curr = self.text[j]
        j += 1
        if curr == "\\":
            j = self.quoted_char(j, in_string=False)
        if self.at(j) != "'":
            raise self.error("missing end of character literal", j)
        return j + 1

    def raw_string_end(self, j: int) -> int | None:
        """`rawStrLitFnAux`: the end of `r"..."` / `r#"..."#` starting at j (the `r`), or None if
        `isRawStrLitStart` fails there."""
        text, k = self.text, j + 1
        while k < len(text) and text[k] == "#":
            k += 1
        if k >= len(text) or text[k] != '"':
            return None
        closing = '"' + "#" * (k - j - 1)
        end = text.find(closing, k + 1)
        if end < 0:
            raise self.error("unterminated raw string literal")
        return end + len(closing)

    # -- identifiers and numbers ------------------------------------------------------------

    def ident_end(self) -> int:
        """`identFnAux`: the end of the (possibly dotted, possibly «escaped») identifier at i."""
        text, j = self.text, self.i
        while True:
            if j < len(text) and text[j] == "«":
                k = text.find("»", j + 1)
                if k < 0:
                    raise self.error("unterminated identifier escape")
                j = k + 1
            elif j < len(text) and _is_ident_start(text[j]):
                j += 1
                while j < len(text) and _is_ident_rest(text[j]):
                    j += 1
            else:
                return j
            # isIdCont: a dot continues the name only if a name part follows (`Nat.succ`, not `h.1`).
            if j + 1 < len(text) and text[j] == "." and (_is_ident_start(text[j + 1]) or text[j + 1] == "«"):
                j += 1
                continue
            return j

    def number_end(self) -> int:
        """`numberFnAux`: `0x1F`, `0b10`, `0o7`, `1_000`, `1.5e-3`, `2.`.

        Letters after it start a new token (`2sorry` is `2` then `sorry`), as in Lean."""
        text, j = self.text, self.i
        if text.startswith(("0x", "0X", "0b", "0B", "0o", "0O"), j):
            kind = text[j + 1].lower()
            digits = {"x": _HEX, "b": frozenset("01"), "o": frozenset("01234567")}[kind]
            k = self._digits(j + 2, digits)
            if k == j + 2:
                raise self.error("missing digits in a numeric literal")
            return k
        j = self._digits(j + 1, frozenset("0123456789"))
        if self.at(j) == ".":
            j += 1
            if _is_digit(self.at(j)):
                j = self._digits(j, frozenset("0123456789"))
        if self.at(j) in ("e", "E") and self.at(j):
            k = j + 1
            if self.at(k) in ("+", "-") and self.at(k):
                k += 1
            if not _is_digit(self.at(k)):
                raise self.error("missing exponent digits in scientific literal")
            j = self._digits(k, frozenset("0123456789"))
        return j

    def _digits(self, j: int, digits: frozenset[str]) -> int:
        """`takeDigitsFn`: digits with `_` separators."""
        while j < len(self.text) and (self.text[j] in digits or self.text[j] == "_"):
            j += 1
        return j


_BRACE_MESSAGE = (
    "a string literal with `{` that does not follow s!, m! or f!: whether Lean reads it as "
    "interpolated depends on syntax the guard cannot see"
)


def tokenize(text: str, *, keep_comments: bool = False, braces: Braces = "reject") -> list[Token]:
    """Split Lean source into tokens; comments are dropped unless `keep_comments`.

    A string after `s!`, `m!` or `f!` is interpolated: the literal's own text comes out as STRING
    pieces around the tokens of the code between its braces. Any other string is one STRING
    token; under `braces="reject"` one that holds a `{` raises LexError (see the module doc).
    """
    s = _Scanner(text, braces)
    out: list[Token] = []
    _code(s, out, keep_comments, in_braces=False)
    return out


def _whitespace(s: _Scanner) -> None:
    """`whitespace`, without the comments (they are tokens here): spaces and newlines; a tab or
    a carriage return not before a newline is Lean's error (Lean reads CRLF as LF)."""
    text = s.text
    j = s.i
    while j < len(text):
        c = text[j]
        if c == "\t":
            s._advance_to(j)
            raise s.error("tabs are not allowed between tokens")
        if c == "\r" and s.at(j + 1) != "\n":
            s._advance_to(j)
            raise s.error("isolated carriage returns are not allowed")
        if c not in _LEAN_WHITESPACE:
            break
        j += 1
    s._advance_to(j)


def _code(s: _Scanner, out: list[Token], keep_comments: bool, in_braces: bool) -> None:
    """Tokens of code up to the end, or (in_braces) up to the `}` that closes an interpolation."""
    text = s.text
    depth = 0
    last_code: Token | None = None
    while True:
        _whitespace(s)
        if s.i >= len(text):
            break
        c = text[s.i]
        if in_braces and c == "}" and depth == 0:
            return
        if c == '"':
            interpolated = last_code is not None and last_code.kind is Kind.IDENT and last_code.text in INTERPOLATING
            if interpolated:
                _interpolated_string(s, out, keep_comments)
            else:
                out.append(s.token(Kind.STRING, s.plain_string_end(s.i + 1)))
            last_code = out[-1]
            continue
        tok = _one_token(s, c)
        if tok.kind is Kind.SYMBOL and in_braces:
            depth += tok.text == "{"
            depth -= tok.text == "}"
        if tok.kind not in (Kind.COMMENT, Kind.DOC):
            last_code = tok
        if keep_comments or tok.kind not in (Kind.COMMENT, Kind.DOC):
            out.append(tok)
    if in_braces:
        raise s.error("unterminated string interpolation")


def _interpolated_string(s: _Scanner, out: list[Token], keep_comments: bool) -> None:
    """`interpolatedStrFn` at s.i: STRING pieces, with the code of each `{...}` tokenized between."""
    text, start_line = s.text, s.line
    j = s.i + 1
    while j < len(text):
        curr = text[j]
        j += 1
        if curr == '"':
            out.append(s.token(Kind.STRING, j))
            return
        if curr == "\\":
            j = s.quoted_char(j, in_string=True, interpolated=True)
        elif curr == "{":
            out.append(s.token(Kind.STRING, j))
            _code(s, out, keep_comments, in_braces=True)
            j = s.i + 1  # s.i is at the closing `}`, which belongs to the next piece
    raise LexError("unterminated string literal", start_line)


def _one_token(s: _Scanner, c: str) -> Token:
    text = s.text
    if text.startswith("--", s.i):
        end = text.find("\n", s.i)
        return s.token(Kind.COMMENT, len(text) if end < 0 else end)
    if text.startswith("/-", s.i):
        after = s.at(s.i + 2)
        if after in ("-", "!") and after:
            # `/--` and `/-!` are doc-comment tokens; their body starts right after them.
            return s.token(Kind.DOC, s.finish_comment_block(s.i + 3))
        # Lean's whitespace skips the character after `/-` unread.
        return s.token(Kind.COMMENT, s.finish_comment_block(s.i + 3))
    if c == "'":
        if s.at(s.i + 1) == "'":
            return s.token(Kind.SYMBOL, s.i + 2)
        return s.token(Kind.CHAR, s.char_end())
    if _is_digit(c):
        return s.token(Kind.NUMBER, s.number_end())
    if c == "r" and (end := s.raw_string_end(s.i)) is not None:
        return s.token(Kind.STRING, end)
    if c == "#" and s.i + 1 < len(text) and _is_ident_start(text[s.i + 1]):
        s_i = s.i
        s.i += 1
        end = s.ident_end()
        s.i = s_i
        return s.token(Kind.COMMAND, end)
    if c == "«" or _is_ident_start(c):
        return s.token(Kind.IDENT, s.ident_end())
    sym = next((sym for sym in _SYMBOLS if text.startswith(sym, s.i)), c)
    return s.token(Kind.SYMBOL, s.i + len(sym))


def strip_comments(text: str, *, braces: Braces = "reject") -> str:
    """The text with every comment replaced by one space (strings are kept as they are)."""
    parts: list[str] = []
    pos = 0
    for tok in tokenize(text, keep_comments=True, braces=braces):
        if tok.kind in (Kind.COMMENT, Kind.DOC):
            parts.append(text[pos : tok.start])
            parts.append(" ")
            pos = tok.end
    parts.append(text[pos:])
    return "".join(parts)


def normalize(text: str, *, braces: Braces = "reject") -> str:
    """Comments removed and every run of whitespace made one space: for comparing statements."""
    return " ".join(tok.text for tok in tokenize(text, braces=braces))


def is_line_start(text: str, tok: Token) -> bool:
    """True when only whitespace precedes `tok` on its line."""
    line_begin = text.rfind("\n", 0, tok.start) + 1
    return text[line_begin : tok.start].strip() == ""
