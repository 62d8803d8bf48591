"""LeanProver: Lean 4 theorems checked in a warm pool of leanprover-community REPLs, or one
`lean --json` process per candidate (the whole-file mode).

A `.lean` problem file may carry line comments that the format itself has no place for:

    -- family: induction
    -- level: 3
    -- split: heldout
    -- reference: N.rec (Eq.refl N.z) (fun n ih => congrArg N.s ih) n

`-- family:` / `-- level:` place a generated problem on its ladder (Prover.rung); `-- split:` is
`train` (the default) or `heldout`; `-- reference:` lines (one or more, joined by newlines) hold
a reference proof of the file's one theorem. The reference lines are taken out of the problem's
text when it is loaded: a model never sees them. JSONL rows give the same as fields (`split`,
`reference`, `meta: {"family": ..., "level": ...}`).
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from proofloop.errors import ProblemFormatError, ToolchainMissing
from proofloop.problemfile import load_jsonl
from proofloop.prover import Prover, SearchResult
from proofloop.rules import rules_version
from proofloop.types import CheckLimits, Problem, Split, Status, Verdict, sha256
from provers.lean.checker import Outcome, check_proof, replay_with_lean4checker
from provers.lean.filecheck import FilePool, check_file
from provers.lean.guards import check_candidate
from provers.lean.lexer import LexError, normalize, tokenize
from provers.lean.pool import HeaderError, Launcher, ReplPool
from provers.lean.source import LeanTask, SourceError, parse_problem_file, parse_problem_text, required_modules
from provers.lean.toolchain import LeanConfig, Toolchain, discover

log = logging.getLogger(__name__)

Runner = Callable[[LeanTask, str], Outcome]
PROMPT = "Complete the following Lean 4 code:\n\n```lean4\n"
_FENCED = re.compile(r"^\s*```[\w-]*[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.S)
_FIELD = re.compile(r"^[ \t]*--[ \t]*(family|level|split):[ \t]*(\S*)[ \t]*$", re.MULTILINE)
_REFERENCE = re.compile(r"^[ \t]*--[ \t]*reference:[ \t]?(.*?)[ \t]*(?:\n|\Z)", re.MULTILINE)


class LeanProver(Prover):
    """Lean 4 theorem proving: `.lean` problem files, whole-proof checks, tactic-mode sessions."""

    name = "lean"
    suffixes = (".lean",)
    # The prompt opens a ```lean4 block and `target` closes it on a line of its own; a proof
    # never holds a fence (`extract` ends it at the first one).
    stop = ("\n```",)
    can_search = True

    def __init__(self, config: LeanConfig | None = None):
        self.config = config or LeanConfig.from_env()
        self._lock = threading.RLock()
        self._toolchain: Toolchain | None = None
        self._missing: ToolchainMissing | None = None
        self._pool: ReplPool | None = None
        self._file_pool: FilePool | None = None
        self._available: set[tuple[str, ...]] = set()  # module sets the toolchain was found to have
        self._atexit = False

    # -- configuration and toolchain -------------------------------------------------------

    def configure(self, section: dict[str, Any] | LeanConfig) -> None:
        """Apply a `[lean]` config table (checking processes get it through `settings`)."""
        config = section if isinstance(section, LeanConfig) else LeanConfig.from_section(dict(section))
        with self._lock:
            self.close()
            self.config = config
            self._toolchain = None
            self._missing = None
            self._available = set()

    def settings(self) -> dict[str, Any]:
        """The `[lean]` table in effect (values that differ from the defaults), for checking processes."""
        return json.loads(self.config.to_json())

    def toolchain(self) -> Toolchain:
        """The discovered toolchain (cached); raises ToolchainMissing."""
        with self._lock:
            if self._toolchain is None and self._missing is None:
                try:
                    self._toolchain = discover(self.config)
                except ToolchainMissing as e:
                    self._missing = e
            if self._missing is not None:
                raise self._missing
            assert self._toolchain is not None
            return self._toolchain

    def pool(self) -> ReplPool:
        """The REPL pool of this process, created on first use."""
        with self._lock:
            if self._pool is None:
                tc = self.toolchain()
                launcher = Launcher(tuple(tc.argv), tc.env, self.config.memory_mb)
                self._pool = self.make_pool(launcher)
            return self._pool

    def file_pool(self) -> FilePool:
        """The whole-file mode's pool of `lean` processes, created on first use."""
        with self._lock:
            if self._file_pool is None:
                tc = self.toolchain()
                cfg = self.config
                # Lean's own memory check (-M) stops the kernel with a message before the pool's
                # watch on resident memory has to kill it; one thread per check keeps the pool's
                # size the number of cores it uses.
                argv = (str(tc.lean), "--json", "--threads=1", f"--memory={cfg.memory_mb}" if cfg.memory_mb else "")
                launcher = Launcher(tuple(a for a in argv if a), tc.env, cfg.memory_mb)
                self._file_pool = FilePool(
                    launcher, size=cfg.processes, max_restarts=cfg.max_restarts, restart_backoff_s=cfg.restart_backoff_s
                )
                self._register_close()
            return self._file_pool

    def _register_close(self) -> None:
        if not self._atexit:
            atexit.register(self.close)
            self._atexit = True

    def make_pool(self, launcher: Launcher) -> ReplPool:
        """A pool with this prover's limits around any launcher (the REPL, or a stand-in)."""
        with self._lock:
            self.close()
            cfg = self.config
            self._pool = ReplPool(
                launcher,
                size=cfg.processes,
                max_uses=cfg.max_uses,
                max_restarts=cfg.max_restarts,
                restart_backoff_s=cfg.restart_backoff_s,
                header_cache=cfg.header_cache,
            )
            self._register_close()
            return self._pool

    def version(self) -> str:
        """Lean's version and the version of the rules around it (guards, lexer, verdict reading,
        canonical form: proofloop.rules); without a toolchain, only the latter."""
        rules = f"rules {self.rules_version()}"
        try:
            return f"{self.toolchain().version}; {rules}"
        except ToolchainMissing:
            return f"{rules}; no Lean toolchain"

    def rules_version(self) -> str:
        """This module (canonical form, verdicts), the guards and the whole-file mode, and what
        they import of provers.lean."""
        return rules_version(__name__, "provers.lean.guards", "provers.lean.filecheck")

    def close(self) -> None:
        """Stop every REPL or `lean` process this prover started."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            if self._file_pool is not None:
                self._file_pool.close()
                self._file_pool = None

    # -- problems -------------------------------------------------------------------------

    def load(self, path: Path) -> list[Problem]:
        """Problems from a `.lean` file, a `.jsonl` file, or a directory of `.lean` files."""
        path = Path(path)
        if path.is_dir():
            # Hidden folders hold build output and dependencies (.lake/packages/mathlib), not problems.
            files = sorted(
                f for f in path.rglob("*.lean") if not any(p.startswith(".") for p in f.relative_to(path).parts)
            )
            if not files:
                raise ProblemFormatError(path, None, "no .lean files in this directory")
            problems = [p for f in files for p in self._load_lean(f)]
        elif path.suffix == ".jsonl":
            problems = load_jsonl(path, default_prover=self.name)
            others = sorted({p.prover for p in problems} - {self.name})
            if others:
                raise ProblemFormatError(path, None, f"holds problems for {', '.join(others)}, not Lean")
        elif path.suffix == ".lean":
            problems = self._load_lean(path)
        else:
            raise ProblemFormatError(path, None, "Lean problems are .lean or .jsonl files")
        seen: dict[str, str] = {}
        for p in problems:
            if p.id in seen:
                raise ProblemFormatError(path, None, f"problem id {p.id!r} occurs twice ({seen[p.id]} and {p.source})")
            seen[p.id] = p.source
        return problems

    def _load_lean(self, path: Path) -> list[Problem]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ProblemFormatError(path, None, f"cannot read: {e}") from None
        references = [m.group(1) for m in _REFERENCE.finditer(text)]
        split = _fields(text).get("split", Split.TRAIN.value)
        if split not in {s.value for s in Split}:
            raise ProblemFormatError(path, None, f"-- split: must be train or heldout, not {split!r}")
        try:
            tasks = parse_problem_file(_REFERENCE.sub("", text), stem=_identifier(path.stem))
        except SourceError as e:
            raise ProblemFormatError(path, _line_with(e.line, text), str(e)) from None
        if references and len(tasks) > 1:
            raise ProblemFormatError(path, None, "-- reference: lines need a file with one theorem")
        reference = "\n".join(references) if references else None
        return [self._problem(t, id=t.name, source=str(path), split=split, reference=reference) for t in tasks]

    def from_text(
        self, text: str, *, id: str, source: str = "", split: str = "train", reference: str | None = None
    ) -> Problem:
        """A Problem from its full text: a header, then one statement ending in `:=`."""
        try:
            task = parse_problem_text(text, stem=_identifier(id))
        except SourceError as e:
            raise ProblemFormatError(source or id, e.line, str(e)) from None
        return self._problem(task, id=id, source=source, split=split, reference=reference)

    def _problem(
        self, task: LeanTask, *, id: str, source: str, split: str = "train", reference: str | None = None
    ) -> Problem:
        meta = {"header": task.header, "statement": task.statement, "theorem": task.name, "full_name": task.full_name}
        fields = _fields(task.header)
        if fields.get("level", "").isdigit():
            meta.update(family=fields.get("family") or None, level=int(fields["level"]))
        return Problem(
            id=id,
            prover=self.name,
            text=task.text,
            source=source,
            split=split,
            reference=reference,
            meta=meta,
            data=task,
        )

    @staticmethod
    def task(problem: Problem) -> LeanTask:
        """The parsed task of a problem (parsed again from its text if it travelled without it)."""
        if isinstance(problem.data, LeanTask):
            return problem.data
        try:
            return parse_problem_text(problem.text, stem=_identifier(problem.id))
        except SourceError as e:
            raise ProblemFormatError(problem.source or problem.id, e.line, str(e)) from None

    def require(self, problems: Iterable[Problem]) -> None:
        """ToolchainMissing when `problems` import modules this Lean cannot find (the core Lean of
        `make lean` has no Init: only `prelude` problems check with it)."""
        for problem in problems:
            modules = tuple(required_modules(self.task(problem)))
            if modules in self._available:
                continue
            missing = self.toolchain().missing_modules(modules)
            if missing:
                tc = self.toolchain()
                where = ", ".join(str(p) for p in tc.search_path) or "none"
                hint = (
                    "this Lean has no Init (the core Lean of `make lean` checks only `prelude` files); "
                    if "Init" in missing else ""
                )
                raise ToolchainMissing(
                    f"{problem.source or problem.id}: needs {', '.join(missing)}, which {tc.lean} cannot find "
                    f"(search path: {where}); {hint}install elan and a Lake project with what it imports (docs/lean.md)"
                )
            self._available.add(modules)

    # -- models ---------------------------------------------------------------------------

    def prompt(self, problem: Problem) -> str:
        """The problem's code in an open lean4 block: the model continues after the `:=`.

        The `-- family:` / `-- level:` / `-- split:` lines are the curriculum's, not the model's."""
        return PROMPT + _FIELD.sub("", problem.text).lstrip("\n")

    def normal_form(self, problem: Problem) -> str:
        """The statement without comments, its theorem's name made `_`, then a hash of the header
        without comments: the same theorem under another name, or laid out otherwise, is the same
        problem. The header enters as one token so that problems sharing a long header (a prelude
        ladder) are near-duplicates only when their statements are."""
        task = self.task(problem)
        try:
            words = normalize(task.statement, braces="plain").split(" ")
            header = normalize(task.header, braces="plain")
        except LexError:
            return " ".join(problem.text.split())
        if len(words) > 1 and words[1] == task.name:
            words[1] = "_"
        return " ".join(words) + " in " + sha256(header)[:16]

    def extract(self, completion: str, prompt: str = "") -> str:
        """The proof in a completion: up to the closing fence, or the body of a fenced block."""
        m = _FENCED.match(completion)
        text = m["body"] if m else completion.split("```", 1)[0]
        return text.strip()

    def target(self, prompt: str, candidate: str) -> str:
        """The proof after the prompt's `:=`, then the closing fence (where `extract` stops)."""
        return f" {candidate.strip()}\n```"

    def canonical(self, candidate: str) -> str:
        """The text Lean elaborates: the candidate without a leading `:=` and outer whitespace.

        Layout is kept: Lean is whitespace-sensitive (a line break can end an application, a
        column can end a tactic block), so two texts share this key only when the file the
        checker builds from them is the same."""
        text = candidate.strip()
        try:
            tokens = tokenize(text)
        except LexError:
            return text
        if tokens and tokens[0].text == ":=":
            text = text[tokens[0].end :].strip()
        return text

    def parts(self, problem: Problem, candidate: str) -> dict[str, str]:
        """The header, the statement (to its `:=`) and the proof Lean elaborates after it."""
        task = self.task(problem)
        guard = check_candidate(candidate, task)
        proof = guard.proof if guard.ok else self.canonical(candidate)
        return {"header": task.header, "statement": task.statement, "proof": proof}

    # -- checking -------------------------------------------------------------------------

    def check(
        self, problem: Problem, candidate: str | bytes, limits: CheckLimits, *, runner: Runner | None = None
    ) -> Verdict:
        """Guards first (no toolchain needed), then the REPL, then optionally lean4checker.

        `runner(task, proof)` elaborates a guarded proof; the default uses this prover's pool
        (a tactic session passes one that uses the REPL it holds).
        """
        started = time.perf_counter()
        task = self.task(problem)
        if isinstance(candidate, bytes):
            try:
                candidate = candidate.decode("utf-8")
            except UnicodeDecodeError as e:
                return self._verdict(Outcome(Status.REJECTED, "guard:encoding", f"not UTF-8: {e}"), started)
        guard = check_candidate(candidate, task)
        if not guard.ok:
            return self._verdict(Outcome(Status.REJECTED, guard.reason, guard.message), started)
        if runner is None and self._pool is None:
            self.require([problem])  # a missing module is the toolchain's fault, never the candidate's
        if runner is None:
            runner = self._runner(limits)

        try:
            outcome = runner(task, guard.proof)
        except HeaderError as e:
            raise ProblemFormatError(
                problem.source or problem.id, task.line, f"the header of {problem.id} does not elaborate: {e}"
            ) from None
        if outcome.status is Status.VERIFIED and self.config.lean4checker:
            replay = replay_with_lean4checker(self.toolchain(), task, guard.proof, limits.timeout_s * 4)
            if replay.status is not Status.VERIFIED:
                outcome = replay
        return self._verdict(outcome, started)

    def _runner(self, limits: CheckLimits) -> Runner:
        """Whole-proof checks in the configured mode: a warm REPL, or a fresh `lean` per file."""
        # A pool made with make_pool (a REPL, or a stand-in) is used as it is.
        if self._pool is None and self.toolchain().mode == "file":
            file_pool = self.file_pool()
            return lambda task, proof: check_file(file_pool, task, proof, limits.timeout_s)
        pool = self.pool()
        return lambda task, proof: check_proof(pool, task, proof, limits.timeout_s, self.config.header_timeout_s)

    def search(
        self, problem: Problem, generator: Any, *, params: Any, samples: int, time_budget_s: float,
        limits: CheckLimits,
    ) -> SearchResult:
        """Best-first tactic search over the REPL's proof states (see tactic.py)."""
        from provers.lean.tactic import best_first_search

        return best_first_search(
            self, problem, generator, params=params, samples=samples, time_budget_s=time_budget_s, limits=limits
        )

    def warm(self, problems: Iterable[Problem]) -> int:
        """Elaborate the headers of `problems` ahead of timed checks; returns how many.

        The whole-file mode has nothing to keep warm (each check is a fresh process): 0."""
        if self._pool is None and self.toolchain().mode == "file":
            return 0
        pool = self.pool()
        done: set[tuple[str, str]] = set()
        for problem in problems:
            task = self.task(problem)
            key = (task.imports, task.header_body)
            if key in done:
                continue
            try:
                pool.run(task.imports, lambda w, t=task: w.header_env(t.header_body, self.config.header_timeout_s))
            except HeaderError as e:
                raise ProblemFormatError(
                    problem.source or problem.id, task.line, f"the header of {problem.id} does not elaborate: {e}"
                ) from None
            done.add(key)
        return len(done)

    def _verdict(self, outcome: Outcome, started: float) -> Verdict:
        return Verdict(
            status=outcome.status,
            checker=self.name,
            checker_version=self.version(),
            seconds=round(time.perf_counter() - started, 6),
            reason=outcome.reason,
            message=outcome.message,
            counterexample=outcome.evidence if outcome.status is Status.REJECTED else None,
        )


def _line_with(line: int | None, text: str) -> int | None:
    """The line of `text` that is `line` of `text` without its `-- reference:` lines."""
    if line is None:
        return None
    removed = sorted(text.count("\n", 0, m.start()) + 1 for m in _REFERENCE.finditer(text))
    for r in removed:
        if r <= line:
            line += 1
    return line


def _fields(text: str) -> dict[str, str]:
    """The `-- family:`, `-- level:` and `-- split:` comment lines of a problem (the first of each)."""
    out: dict[str, str] = {}
    for m in _FIELD.finditer(text):
        out.setdefault(m.group(1), m.group(2))
    return out


def _identifier(stem: str) -> str:
    """A Lean-safe name fragment from a file stem or id (for naming `example`s)."""
    name = re.sub(r"\W", "_", stem)
    return name if name and not name[0].isdigit() else f"p_{name}"
