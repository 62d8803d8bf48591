"""Typed errors. The library raises these; the CLI turns them into one-line messages.

Outcomes of checking (a wrong candidate) are never exceptions: they are `Verdict` values.
Exceptions are for bad input and for infrastructure trouble.
"""

from __future__ import annotations

from pathlib import Path


class ProofloopError(Exception):
    """Base class of every error the CLI reports as one line (exit code 2)."""

    exit_code = 2


class ProblemFormatError(ProofloopError):
    """A problem file cannot be read: names the file, the line and what is wrong."""

    def __init__(self, path: str | Path | None, line: int | None, message: str):
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class UnsupportedFeature(ProblemFormatError):
    """A well-formed problem that uses a feature this prover does not support."""


class ConfigError(ProofloopError):
    """A configuration value is wrong: names the key and the allowed values."""


class ToolchainMissing(ProofloopError):
    """A required external tool (Lean, lake, the REPL, cvc5, vllm...) is not installed."""


class CheckerCrash(ProofloopError):
    """The checker itself failed (a crashed REPL, a solver error): never a `rejected` verdict."""

    exit_code = 4


class RunDirError(ProofloopError):
    """A run directory is missing, is not a run, or was written by an incompatible version."""
