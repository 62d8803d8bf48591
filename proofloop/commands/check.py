"""`proofloop check PROBLEM --candidate ...`: check one candidate, or many with --interactive."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from proofloop.errors import ProofloopError
from proofloop.types import CheckLimits, Problem, Status

if TYPE_CHECKING:
    from proofloop.executors import CheckPool

EXIT_CODES = {Status.VERIFIED: 0, Status.REJECTED: 1, Status.UNKNOWN: 3, Status.DISPUTED: 1}

EPILOG = """\
Exit codes:
  0  verified
  1  rejected (the reason and counterexample are printed), or disputed: with
     --cross-check, one solver verified and the other rejected (reason cross-check)
  2  bad input or usage (a bad problem file, a missing file, a bad option)
  3  unknown (the time or memory limit ran out)
  4  the checker itself crashed
With --interactive the exit code is 0 when the input ends (Ctrl-D).
"""


def check(
    problem_file: Annotated[Path, typer.Argument(metavar="PROBLEM", help="A problem file (.sl, .lean, .jsonl).")],
    candidate: Annotated[
        str | None,
        typer.Option(
            "--candidate", "-c",
            help="The candidate: a file path if that file exists, '-' for stdin, otherwise the text itself.",
        ),
    ] = None,
    theorem: Annotated[
        str | None, typer.Option("--theorem", "-t", help="The problem to check when the file holds several.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Time limit per check, in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=16, help="Memory a check may use, in MB.")] = 2048,
    cross_check: Annotated[
        str | None,
        typer.Option(
            "--cross-check",
            help="Check again with a second, independent solver (cvc5 for SyGuS); a candidate one verifies "
            "and the other rejects is DISPUTED.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per verdict and nothing else.")
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive", "-i",
            help="Read candidates one after another from stdin until Ctrl-D; a candidate that starts "
            "with '(' ends where its parentheses balance, any other ends at an empty line.",
        ),
    ] = False,
) -> None:
    """Check a candidate against a problem and say why it is right or wrong.

    A rejection shows the checker's counterexample: the input values,
    each violated constraint with what the candidate computed,
    or for an invariant the condition that fails with the state and next state.
    """
    if interactive == (candidate is not None):
        raise ProofloopError("give either --candidate or --interactive")
    from proofloop.problemfile import load_problem

    problem = load_problem(problem_file, theorem)
    if cross_check:
        from proofloop.prover import checker_version, get_prover

        checker_version(get_prover(problem.prover), cross_check)  # an unknown cross-checker is a usage error
    limits = CheckLimits(timeout_s=timeout, memory_mb=memory_mb, cross_check=cross_check or "")
    from proofloop.executors import CheckPool

    # One candidate at a time, in this process, under the limits a pool worker keeps.
    with CheckPool("local", workers=1) as pool:
        if interactive:
            run_repl(pool, problem, str(problem_file), limits, as_json)
            raise typer.Exit(0)
        verdict = _check_and_show(pool, problem, read_candidate(candidate), str(problem_file), limits, as_json)
    raise typer.Exit(EXIT_CODES[verdict.status])


def read_candidate(spec: str) -> str | bytes:
    """The candidate `--candidate` names: '-' is stdin, an existing file is read, else the text itself."""
    if spec == "-":
        return as_candidate(sys.stdin.buffer.read())
    if _is_file(spec):
        try:
            return as_candidate(Path(spec).read_bytes())
        except OSError as e:
            raise ProofloopError(f"{spec}: cannot read the candidate file: {e.strerror}") from None
    # Arguments that were not valid UTF-8 arrive with surrogate escapes: hand back the bytes.
    try:
        return spec.encode("utf-8").decode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(spec)


def as_candidate(data: bytes) -> str | bytes:
    """Text when `data` is UTF-8; the raw bytes otherwise, for the checker to reject cleanly."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def run_repl(pool: "CheckPool", problem: Problem, file: str, limits: CheckLimits, as_json: bool) -> None:
    """Check candidates read from stdin one after another until end of input."""
    from rich.console import Console

    reader = _LineReader()
    Console(stderr=True, highlight=False).print(f"checking candidates for {problem.id}; end with Ctrl-D", style="dim")
    while True:
        try:
            text = read_one(reader)
        except KeyboardInterrupt:  # Ctrl-C drops the candidate being typed, not the session
            sys.stderr.write("\n")
            continue
        if text is None:
            return
        _check_and_show(pool, problem, as_candidate(text), file, limits, as_json, blank_after=True)


def read_one(reader: "_LineReader") -> bytes | None:
    """The next candidate: to balanced parentheses if it starts with '(', else to an empty line."""
    lines: list[bytes] = []
    prompt = PROMPT
    while True:
        line = reader.readline(prompt)
        if line is None:
            return b"".join(lines) if lines else None
        if not lines and not line.strip():
            continue
        lines.append(line)
        text = b"".join(lines)
        if text.lstrip().startswith(b"("):
            if paren_depth(text) <= 0:
                return text
        elif not line.strip():
            return text
        prompt = MORE


def paren_depth(text: bytes) -> int:
    """Open parentheses left at the end of `text`, skipping strings, |symbols| and ; comments."""
    depth = 0
    closer = None  # the byte that ends the string, quoted symbol or comment we are in
    for byte in text:
        ch = chr(byte)
        if closer is not None:
            if ch == closer:
                closer = None
        elif ch in "\"|":
            closer = ch
        elif ch == ";":
            closer = "\n"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
    return depth


PROMPT = "candidate> "
MORE = "       ...> "


class _LineReader:
    """Lines from stdin as bytes: with line editing on a terminal, the prompt on stderr otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdin.isatty()
        self.eof = False
        if self.tty:
            try:
                import readline  # noqa: F401  (gives input() history and editing)
            except ImportError:
                pass

    def readline(self, prompt: str) -> bytes | None:
        if self.eof:
            return None
        if self.tty:
            try:
                return (input(prompt) + "\n").encode("utf-8", "surrogateescape")
            except EOFError:
                self.eof = True
                return None
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.buffer.readline()
        if not line:
            self.eof = True
            return None
        return line


def _check_and_show(
    pool: "CheckPool", problem: Problem, candidate: str | bytes, file: str, limits: CheckLimits, as_json: bool,
    blank_after: bool = False,
):
    from rich.console import Console

    from proofloop.render import print_verdict, verdict_json

    [verdict] = pool.check_batch([(problem, candidate)], limits)
    if as_json:
        typer.echo(verdict_json(verdict, problem.id, file))
        return verdict
    console = Console(highlight=False)
    print_verdict(console, verdict)
    if blank_after:
        console.print()
    return verdict


def _is_file(spec: str) -> bool:
    try:
        return Path(spec).is_file()
    except (OSError, ValueError):  # a long or odd literal candidate is not a path
        return False


def register(app: typer.Typer) -> None:
    app.command("check", epilog=EPILOG)(check)
