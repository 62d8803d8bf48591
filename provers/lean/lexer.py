"""A small Lean 4 lexer: enough to find commands, statements and forbidden words reliably.

It is not a parser. It splits source text into tokens while skipping comments (nested `/- -/`,
docstrings `/-- -/` and `/-! -/`, and `--` line comments) and treating string and character
literals as single opaque tokens, so a forbidden word that only occurs inside a comment or a
string is never mistaken for code, while the code inside a string's `{...}` interpolation is
read as code. Identifiers follow Lean's own rules (`isIdFirst`, `isIdRest`, `isLetterLike`)
and are read whole, dots and `«»` included, so `my_sorry_helper` or `Nat.lemma_x` are single
identifiers, never the keywords they contain, and `sorryᶜ` is `sorry` then `ᶜ`, as in Lean.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    IDENT = "ident"
    COMMAND = "command"  # `#eval`, `#print`, `#exit`, ...
    STRING = "string"
    CHAR = "char"
    NUMBER = "number"
    SYMBOL = "symbol"
    COMMENT = "comment"
    DOC = "doc"  # `/-- ... -/`


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    start: int  # offset into the source
    end: int
    line: int  # 1-based
    column: int  # 0-based, in characters, as Lean reports positions


class LexError(ValueError):
    """Unterminated comment or literal; carries the 1-based line where it started."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


# Longest first, so `:=` wins over `:`; anything else is a one-character symbol.
_SYMBOLS = sorted(
    [":=", "=>", "<;>", "<|>", "<|", "|>", "->", "<-", "←", "→", "↔", "::", "..", "...", "@[", "%[", "+", "%"],
    key=len,
    reverse=True,
)
OPEN_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "@[": "]", "%[": "]", "‹": "›"}
CLOSE_BRACKETS = {v for v in OPEN_BRACKETS.values()}


def is_letter_like(c: str) -> bool:
    """Lean's `isLetterLike`: the non-ASCII letters Lean allows in identifiers, and no others
    (so `sorryᶜ` is `sorry` followed by the symbol `ᶜ`, as Lean reads it). The ranges are those
    of Lean 4.35, checked code point by code point against the real binary."""
    v = ord(c)
    return (
        (0xC0 <= v <= 0x17F and v not in (0xD7, 0xF7))  # Latin-1 letters and Latin Extended-A
        or         (0x3B1 <= v <= 0x3C9 and v != 0x3BB)  # lower Greek, but λ
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
    def __init__(self, text: str):
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0

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

    def block_comment_end(self) -> int:
        depth, j, text = 0, self.i, self.text
        while j < len(text):
            if text.startswith("/-", j):
                depth += 1
                j += 2
            elif text.startswith("-/", j):
                depth -= 1
                j += 2
                if depth == 0:
                    return j
            else:
                j += 1
        raise LexError("unterminated comment", self.line)

    def raw_string_end(self, j: int) -> int | None:
        """End of `r"..."` / `r#"..."#` starting at j (the `r`), or None if it is not one."""
        k = j + 1
        while k < len(self.text) and self.text[k] == "#":
            k += 1
        if k >= len(self.text) or self.text[k] != '"':
            return None
        closing = '"' + "#" * (k - j - 1)
        end = self.text.find(closing, k + 1)
        if end < 0:
            raise LexError("unterminated raw string literal", self.line)
        return end + len(closing)

    def char_end(self) -> int | None:
        """End of a character literal `'a'`, `'\\n'`, or None: a lone `'` is a symbol."""
        text, j = self.text, self.i + 1
        if j < len(text) and text[j] == "\\":
            k = text.find("'", j + 2)
            return k + 1 if 0 < k <= j + 10 else None
        if j + 1 < len(text) and text[j + 1] == "'" and text[j] != "\n":
            return j + 2
        return None

    def ident_end(self) -> int:
        text, j = self.text, self.i
        while True:
            if j < len(text) and text[j] == "«":
                k = text.find("»", j)
                if k < 0:
                    raise LexError("unterminated «identifier»", self.line)
                j = k + 1
            elif j < len(text) and _is_ident_start(text[j]):
                j += 1
                while j < len(text) and _is_ident_rest(text[j]):
                    j += 1
            else:
                return j
            # A dot continues the name only if a name part follows (`Nat.succ`, not `h.1`).
            if j + 1 < len(text) and text[j] == "." and (_is_ident_start(text[j + 1]) or text[j + 1] == "«"):
                j += 1
                continue
            return j

    def number_end(self) -> int:
        """End of a numeric literal, as Lean reads it: `0x1F`, `0b10`, `0o7`, `12`, `1.5e-3`.

        Letters after it start a new token (`2sorry` is `2` then `sorry`), as in Lean."""
        text, j = self.text, self.i
        if text.startswith(("0x", "0X", "0b", "0B", "0o", "0O"), j):
            digits = "0123456789abcdefABCDEF_" if text[j + 1] in "xX" else "0123456789_"
            k = j + 2
            while k < len(text) and text[k] in digits:
                k += 1
            if k > j + 2:
                return k
        j += 1
        while j < len(text) and (_is_digit(text[j]) or text[j] == "_"):
            j += 1
        if j + 1 < len(text) and text[j] == "." and _is_digit(text[j + 1]):
            j += 1
            while j < len(text) and _is_digit(text[j]):
                j += 1
        if j < len(text) and text[j] in "eE":
            k = j + 1
            if k < len(text) and text[k] in "+-":
                k += 1
            if k < len(text) and _is_digit(text[k]):
                while k < len(text) and _is_digit(text[k]):
                    k += 1
                j = k
        return j


def tokenize(text: str, *, keep_comments: bool = False) -> list[Token]:
    """Split Lean source into tokens; comments are dropped unless `keep_comments`.

    Every string literal is read as an interpolated one: the code between its braces is
    tokenized like any other code (nested strings and comments included), because Lean reads
    it as code in `s!"..."`, `m!"..."`, `throwError "..."` and any syntax declared with
    `interpolatedStr`. A plain string with an unbalanced brace then fails to lex (guard:lexer),
    which is the safe side. The literal's own text comes out as STRING pieces around the code.
    """
    s = _Scanner(text)
    out: list[Token] = []
    _code(s, out, keep_comments, in_braces=False)
    return out


def _code(s: _Scanner, out: list[Token], keep_comments: bool, in_braces: bool) -> None:
    """Tokens of code up to the end, or (in_braces) up to the `}` that closes an interpolation."""
    text = s.text
    depth = 0
    while s.i < len(text):
        c = text[s.i]
        if c.isspace():
            s._advance_to(s.i + 1)
            continue
        if in_braces and c == "}" and depth == 0:
            return
        if c == '"':
            _string(s, out, keep_comments)
            continue
        tok = _one_token(s, c)
        if tok.kind is Kind.SYMBOL and in_braces:
            depth += tok.text == "{"
            depth -= tok.text == "}"
        if keep_comments or tok.kind not in (Kind.COMMENT, Kind.DOC):
            out.append(tok)
    if in_braces:
        raise LexError("unterminated string interpolation", s.line)


def _string(s: _Scanner, out: list[Token], keep_comments: bool) -> None:
    """A string literal at s.i: STRING pieces, with the code of each `{...}` tokenized between."""
    text, start_line = s.text, s.line
    j = s.i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            out.append(s.token(Kind.STRING, j + 1))
            return
        elif text[j] == "{":
            out.append(s.token(Kind.STRING, j + 1))
            _code(s, out, keep_comments, in_braces=True)
            j = s.i + 1  # s.i is at the closing `}`, which belongs to the next piece
        else:
            j += 1
    raise LexError("unterminated string literal", start_line)


def _one_token(s: _Scanner, c: str) -> Token:
    text = s.text
    if text.startswith("--", s.i):
        end = text.find("\n", s.i)
        return s.token(Kind.COMMENT, len(text) if end < 0 else end)
    if text.startswith("/-", s.i):
        # Only `/-- -/` docstrings attach to the next declaration; `/-! -/` is a module doc.
        kind = Kind.DOC if text.startswith("/--", s.i) and not text.startswith("/--/", s.i) else Kind.COMMENT
        return s.token(kind, s.block_comment_end())
    if c == "r" and (end := s.raw_string_end(s.i)) is not None:
        return s.token(Kind.STRING, end)
    if c == "'" and (end := s.char_end()) is not None:
        return s.token(Kind.CHAR, end)
    if c == "#" and s.i + 1 < len(text) and _is_ident_start(text[s.i + 1]):
        s_i = s.i
        s.i += 1
        end = s.ident_end()
        s.i = s_i
        return s.token(Kind.COMMAND, end)
    if c == "«" or _is_ident_start(c):
        return s.token(Kind.IDENT, s.ident_end())
    if _is_digit(c):
        return s.token(Kind.NUMBER, s.number_end())
    sym = next((sym for sym in _SYMBOLS if text.startswith(sym, s.i)), c)
    return s.token(Kind.SYMBOL, s.i + len(sym))


def strip_comments(text: str) -> str:
    """The text with every comment replaced by one space (strings are kept as they are)."""
    parts: list[str] = []
    pos = 0
    for tok in tokenize(text, keep_comments=True):
        if tok.kind in (Kind.COMMENT, Kind.DOC):
            parts.append(text[pos : tok.start])
            parts.append(" ")
            pos = tok.end
    parts.append(text[pos:])
    return "".join(parts)


def normalize(text: str) -> str:
    """Comments removed and every run of whitespace made one space: for comparing statements."""
    return " ".join(tok.text for tok in tokenize(text))


def is_line_start(text: str, tok: Token) -> bool:
    """True when only whitespace precedes `tok` on its line."""
    line_begin = text.rfind("\n", 0, tok.start) + 1
    return text[line_begin : tok.start].strip() == ""
