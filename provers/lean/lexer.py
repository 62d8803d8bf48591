"""A small Lean 4 lexer: enough to find commands, statements and forbidden words reliably.

It is not a parser. It splits source text into tokens while skipping comments (nested `/- -/`,
docstrings `/-- -/` and `/-! -/`, and `--` line comments) and treating string and character
literals as single opaque tokens, so a forbidden word that only occurs inside a comment or a
string is never mistaken for code. Identifiers are read whole, dots and `«»` included, so
`my_sorry_helper` or `Nat.lemma_x` are single identifiers, never the keywords they contain.
"""

from __future__ import annotations

import re
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


def _is_ident_start(c: str) -> bool:
    # Lean identifiers may use letters of any script (ℕ, α, ...) except λ, Π and Σ, which are
    # tokens of their own.
    return (c.isalpha() or c == "_") and c not in "λΠΣ"


def _is_ident_rest(c: str) -> bool:
    if _is_ident_start(c) or c.isdigit() or c in "'!?":
        return True
    return "\u2080" <= c <= "\u209c" or "\u1d62" <= c <= "\u1d6a"  # subscripts


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

    def string_end(self) -> int:
        j, text = self.i + 1, self.text
        while j < len(text):
            if text[j] == "\\":
                j += 2
            elif text[j] == '"':
                return j + 1
            else:
                j += 1
        raise LexError("unterminated string literal", self.line)

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
        text, j = self.text, self.i + 1
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        if j + 1 < len(text) and text[j] == "." and text[j + 1].isdigit():
            j += 1
            while j < len(text) and text[j].isalnum():
                j += 1
        return j


def tokenize(text: str, *, keep_comments: bool = False) -> list[Token]:
    """Split Lean source into tokens; comments are dropped unless `keep_comments`."""
    s = _Scanner(text)
    out: list[Token] = []
    while s.i < len(text):
        c = text[s.i]
        if c.isspace():
            s._advance_to(s.i + 1)
            continue
        if text.startswith("--", s.i):
            end = text.find("\n", s.i)
            tok = s.token(Kind.COMMENT, len(text) if end < 0 else end)
        elif text.startswith("/-", s.i):
            # Only `/-- -/` docstrings attach to the next declaration; `/-! -/` is a module doc.
            kind = Kind.DOC if text.startswith("/--", s.i) and not text.startswith("/--/", s.i) else Kind.COMMENT
            tok = s.token(kind, s.block_comment_end())
        elif c == '"':
            tok = s.token(Kind.STRING, s.string_end())
        elif c == "r" and (end := s.raw_string_end(s.i)) is not None:
            tok = s.token(Kind.STRING, end)
        elif c == "'" and (end := s.char_end()) is not None:
            tok = s.token(Kind.CHAR, end)
        elif c == "#" and s.i + 1 < len(text) and text[s.i + 1].isalpha():
            s_i = s.i
            s.i += 1
            end = s.ident_end()
            s.i = s_i
            tok = s.token(Kind.COMMAND, end)
        elif c == "«" or _is_ident_start(c):
            tok = s.token(Kind.IDENT, s.ident_end())
        elif c.isdigit():
            tok = s.token(Kind.NUMBER, s.number_end())
        else:
            sym = next((sym for sym in _SYMBOLS if text.startswith(sym, s.i)), c)
            tok = s.token(Kind.SYMBOL, s.i + len(sym))
        if keep_comments or tok.kind not in (Kind.COMMENT, Kind.DOC):
            out.append(tok)
    return out


def interpolated_words(tok: Token) -> list[str]:
    """Identifier-like words inside a string literal that has braces, for the guards.

    Interpolated strings (`s!"..."`, `m!"..."`, `throwError "..."`) elaborate the code inside
    their braces, and a nested string inside the braces can make this lexer cut the literal in
    two; so any literal with a brace on either side is scanned word by word, conservatively.
    """
    if tok.kind is not Kind.STRING or not ("{" in tok.text or "}" in tok.text):
        return []
    return _WORD.findall(tok.text)


_WORD = re.compile(r"#?[^\W\d][\w.'!?]*")


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
