"""Splitting Lean problem files into a header and one task per theorem.

A problem file (miniF2F / ProofNet style) is a header (imports, `open`, `set_option`,
`namespace`, helper definitions) and one or more theorems whose proof is `sorry`. Each such
theorem becomes one task: the header that precedes it (other `sorry` theorems left out) and its
statement up to and including the `:=` that starts the proof. The checker elaborates exactly
`header + statement + " " + proof`, so `Problem.text = header + statement` is all it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from provers.lean.lexer import Kind, LexError, Token, is_line_start, normalize, tokenize

# Keywords that open a declaration whose name follows (after modifiers and attributes).
DECL_KEYWORDS = frozenset(
    {
        "theorem",
        "lemma",
        "def",
        "abbrev",
        "instance",
        "example",
        "axiom",
        "opaque",
        "constant",
        "structure",
        "class",
        "inductive",
        "coinductive",
        "irreducible_def",
    }
)
# What a task may be: a statement to prove.
TASK_KEYWORDS = ("theorem", "lemma", "example")
MODIFIERS = frozenset({"private", "protected", "noncomputable", "unsafe", "partial", "nonrec", "scoped", "local"})
# Commands that may also appear, indented, inside a tactic proof (`open Foo in simp`), so an
# indented occurrence does not start a new command.
_AMBIGUOUS = frozenset({"open", "set_option", "attribute"})
_SCOPED_PREFIXES = frozenset({"open", "set_option"})
_COMMAND_STARTERS = (
    DECL_KEYWORDS
    | MODIFIERS
    | frozenset(
        {
            "import",
            "namespace",
            "section",
            "end",
            "variable",
            "universe",
            "mutual",
            "noncomputable",
            "macro",
            "macro_rules",
            "syntax",
            "elab",
            "elab_rules",
            "notation",
            "infix",
            "infixl",
            "infixr",
            "prefix",
            "postfix",
            "initialize",
            "builtin_initialize",
            "run_cmd",
            "deriving",
            "export",
            "declare_syntax_cat",
            "omit",
            "include",
            "alias",
        }
    )
)


class SourceError(ValueError):
    """The text is not a problem file this prover understands; carries a 1-based line."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Command:
    """One top-level command: its tokens and where it sits in the source."""

    tokens: tuple[Token, ...]
    start: int  # offset of the first token (docstring and attributes included)
    end: int  # offset where the next command starts (trailing comments included)

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def keyword(self) -> str:
        """The command's keyword after any docstring, attributes and modifiers."""
        tok = self.tokens[_keyword_index(self.tokens)] if self.tokens else None
        return tok.text if tok is not None else ""

    @property
    def name(self) -> str | None:
        """The declared name, for declarations (`theorem foo ...` -> "foo")."""
        i = _keyword_index(self.tokens)
        if self.keyword in DECL_KEYWORDS and i + 1 < len(self.tokens) and self.tokens[i + 1].kind is Kind.IDENT:
            return self.tokens[i + 1].text
        return None


@dataclass(frozen=True)
class LeanTask:
    """One theorem to prove: what the checker elaborates, in trusted parts."""

    name: str  # the theorem's name as written (`#print axioms` resolves it in the header's scope)
    full_name: str  # with the header's namespaces
    header: str  # imports and everything the statement needs, ending in a newline
    imports: str  # the leading `import` lines of the header (what a REPL process is keyed by)
    header_body: str  # the rest of the header, elaborated on top of the imports
    statement: str  # `theorem NAME ... :=`
    original_statement: str  # as written in the file (differs for `example`, which gets a name)
    line: int  # line of the statement in its file

    @property
    def text(self) -> str:
        return self.header + self.statement


def _keyword_index(tokens: tuple[Token, ...] | list[Token]) -> int:
    """Index of the first token after docstrings, `@[...]` attributes, modifiers and
    `open ... in` / `set_option ... in` prefixes."""
    i, depth = 0, 0
    while i < len(tokens):
        tok = tokens[i]
        if depth:
            depth += tok.text in ("[", "@[") and tok.kind is Kind.SYMBOL
            depth -= tok.text == "]" and tok.kind is Kind.SYMBOL
        elif tok.kind is Kind.DOC or tok.text in MODIFIERS:
            pass
        elif tok.text == "@[" and tok.kind is Kind.SYMBOL:
            depth = 1
        elif tok.text in _SCOPED_PREFIXES and (end := _in_end(tokens, i)) is not None:
            i = end
        else:
            return i
        i += 1
    return i


def _in_end(tokens: tuple[Token, ...] | list[Token], i: int) -> int | None:
    """Index of the `in` that ends `open ... in` / `set_option ... in` at tokens[i], or None."""
    for j in range(i + 1, len(tokens)):
        if tokens[j].kind is Kind.IDENT and tokens[j].text == "in":
            return j
        if tokens[j].line != tokens[i].line:
            return None
    return None


def _starts_command(text: str, tok: Token, depth: int, prev: Token | None) -> bool:
    if tok.kind is Kind.COMMENT or not is_line_start(text, tok):
        return False
    if prev is not None and (prev.kind is Kind.DOC or (prev.kind is Kind.IDENT and prev.text == "in")):
        return False  # a docstring, or `open X in`, already started this command
    if prev is not None and prev.kind is Kind.SYMBOL and prev.text == "]" and _attr_line_end(text, prev):
        return False
    if tok.column == 0:
        return True
    if depth:
        return False
    if tok.kind is Kind.DOC or tok.kind is Kind.COMMAND or (tok.kind is Kind.SYMBOL and tok.text == "@["):
        return True
    return tok.kind is Kind.IDENT and tok.text in _COMMAND_STARTERS and tok.text not in _AMBIGUOUS


def _attr_line_end(text: str, close: Token) -> bool:
    """Whether `]` closes an attribute list on a line of its own (`@[simp]\\ntheorem ...`)."""
    line_begin = text.rfind("\n", 0, close.start) + 1
    return text[line_begin : close.start].lstrip().startswith("@[")


def split_commands(text: str) -> list[Command]:
    """Split source text into top-level commands (comments between commands are kept in spans)."""
    tokens = tokenize(text, keep_comments=True, braces="plain")
    groups: list[list[Token]] = []
    depth = 0
    prev: Token | None = None
    for tok in tokens:
        if tok.kind is Kind.COMMENT:
            continue
        if not groups or _starts_command(text, tok, depth, prev):
            groups.append([])
            depth = 0
        groups[-1].append(tok)
        if tok.kind is Kind.SYMBOL:
            if tok.text in ("(", "[", "{", "⟨", "⦃", "@[", "%[", "‹"):
                depth += 1
            elif tok.text in (")", "]", "}", "⟩", "⦄", "›"):
                depth = max(0, depth - 1)
        prev = tok
    commands = []
    for k, group in enumerate(groups):
        end = groups[k + 1][0].start if k + 1 < len(groups) else len(text)
        commands.append(Command(tuple(group), group[0].start, end))
    return commands


def statement_end(tokens: tuple[Token, ...] | list[Token], start: int = 0) -> int | None:
    """Index of the top-level `:=` that ends a declaration's signature, or None."""
    depth = 0
    for i in range(start, len(tokens)):
        tok = tokens[i]
        if tok.kind is not Kind.SYMBOL:
            continue
        if tok.text in ("(", "[", "{", "⟨", "⦃", "@[", "%[", "‹"):
            depth += 1
        elif tok.text in (")", "]", "}", "⟩", "⦄", "›"):
            depth -= 1
        elif tok.text == ":=" and depth == 0:
            return i
    return None


def _is_sorry_proof(tokens: list[Token]) -> bool:
    words = [t.text for t in tokens]
    return words in (["sorry"], ["by", "sorry"], ["by", "exact", "sorry"])


def _is_task(cmd: Command) -> bool:
    if cmd.keyword not in TASK_KEYWORDS:
        return False
    code = [t for t in cmd.tokens if t.kind is not Kind.DOC]
    assign = statement_end(code)
    return assign is not None and _is_sorry_proof(code[assign + 1 :])


def _namespaces(commands: list[Command]) -> list[str]:
    """The namespace stack after `commands` (`section` entries are pushed as None)."""
    stack: list[str | None] = []
    for cmd in commands:
        words = [t.text for t in cmd.tokens[_keyword_index(cmd.tokens) :]]
        if words[:1] == ["namespace"] and len(words) > 1:
            stack.append(words[1])
        elif words[:1] == ["section"]:
            stack.append(None)
        elif words[:1] == ["end"] and stack:
            stack.pop()
    return [ns for ns in stack if ns]


def _split_imports(header: str) -> tuple[str, str]:
    commands = split_commands(header) if header.strip() else []
    end = 0
    for cmd in commands:
        if cmd.keyword != "import":
            break
        end = cmd.end
    return header[:end], header[end:]


def _task(text: str, cmd: Command, header_cmds: list[Command], prefix: str, index: int, stem: str) -> LeanTask:
    code = [t for t in cmd.tokens if t.kind is not Kind.DOC]
    assign = statement_end(code)
    assert assign is not None  # _is_task / parse_problem_text checked it
    stmt_end = code[assign].end
    original = text[cmd.start : stmt_end]
    statement = original
    name = cmd.name
    if cmd.keyword == "example":
        # An example has no name to `#print axioms`; it is checked as a theorem named after it.
        name = f"{stem}_example_{index}"
        kw = cmd.tokens[_keyword_index(cmd.tokens)]
        statement = text[cmd.start : kw.start] + f"theorem {name}" + text[kw.end : stmt_end]
    if not name:
        raise SourceError(f"{cmd.keyword} without a name", cmd.line)
    header = prefix + "".join(text[c.start : c.end] for c in header_cmds)
    if header and not header.endswith("\n"):
        header += "\n"
    imports, body = _split_imports(header)
    full_name = ".".join([*_namespaces(header_cmds), name])
    return LeanTask(name, full_name, header, imports, body, statement, original, cmd.line)


def parse_problem_file(text: str, stem: str = "problem") -> list[LeanTask]:
    """One task per theorem/lemma/example whose proof is `sorry`; raises SourceError."""
    try:
        commands = split_commands(text)
    except LexError as e:
        raise SourceError(str(e), e.line) from None
    prefix = text[: commands[0].start] if commands else text
    tasks: list[LeanTask] = []
    header_cmds: list[Command] = []
    seen: dict[str, int] = {}
    for cmd in commands:
        if not _is_task(cmd):
            header_cmds.append(cmd)
            continue
        task = _task(text, cmd, list(header_cmds), prefix, len(tasks) + 1, stem)
        if task.name in seen:
            raise SourceError(f"theorem {task.name} is stated twice (first on line {seen[task.name]})", cmd.line)
        seen[task.name] = cmd.line
        tasks.append(task)
    if not tasks:
        raise SourceError("no theorem, lemma or example whose proof is `sorry`", None)
    return tasks


def parse_problem_text(text: str, stem: str = "problem") -> LeanTask:
    """The task of a problem's full text: a header, then one statement ending in `:=`.

    A trailing `sorry` / `by sorry` after the `:=` is accepted and dropped.
    """
    try:
        commands = split_commands(text)
    except LexError as e:
        raise SourceError(str(e), e.line) from None
    if not commands or commands[-1].keyword not in TASK_KEYWORDS:
        raise SourceError("the text must end with a theorem, lemma or example statement", None)
    last = commands[-1]
    code = [t for t in last.tokens if t.kind is not Kind.DOC]
    assign = statement_end(code)
    if assign is None:
        raise SourceError("the statement must end with `:=`", last.line)
    rest = code[assign + 1 :]
    if rest and not _is_sorry_proof(rest):
        raise SourceError("the statement must end with `:=` (or `:= sorry`); found a proof after it", last.line)
    prefix = text[: commands[0].start]
    return _task(text, last, commands[:-1], prefix, 1, stem)


# Words that may stand between `import` and the module name (Lean's module system).
_IMPORT_MODIFIERS = frozenset({"public", "meta", "all", "private"})


def required_modules(task: LeanTask) -> list[str]:
    """The compiled modules checking `task` needs: `Init` unless the file is a `prelude` one, and
    every module its header imports."""
    tokens = tokenize(task.header, braces="plain")
    needed = [] if tokens and tokens[0].text == "prelude" else ["Init"]
    for i, tok in enumerate(tokens):
        if tok.kind is Kind.IDENT and tok.text == "import":
            j = i + 1
            while j < len(tokens) and tokens[j].text in _IMPORT_MODIFIERS:
                j += 1
            if j < len(tokens) and tokens[j].kind is Kind.IDENT:
                needed.append(tokens[j].text)
    return list(dict.fromkeys(needed))


def same_statement(a: str, b: str) -> bool:
    """Equal after comments are removed and whitespace is normalised."""
    try:
        return normalize(a) == normalize(b)
    except LexError:
        return False
