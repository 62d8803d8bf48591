"""Finding the Lean toolchain and the REPL, and the `[lean]` configuration.

Two checking modes need different tools. The REPL mode needs the leanprover-community REPL:
1. a Lake project (usually with Mathlib) given as `[lean] project` or $PROOFLOOP_LEAN_PROJECT,
   with the REPL built in it (`lake build repl`, binary under `.lake/`); the environment the
   REPL needs (LEAN_PATH, PATH) is read once from `lake env`;
2. a `repl` executable on PATH (or `[lean] repl`), with `lean` on PATH, for core Lean only.
The whole-file mode needs only `lean`: the project's (run with its `lake env` environment, which
is what `lake env lean` does), else `[lean] lean` / $PROOFLOOP_LEAN_BIN, else `lean` on PATH
(elan), else the core-only binary `make lean` builds in the repository's .cache/lean.
`mode = "auto"` (the default) takes the REPL mode when a REPL is configured or on PATH.
Anything missing or broken raises ToolchainMissing with what was looked for and how to install.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proofloop.errors import ConfigError, ToolchainMissing
from provers.lean.pool import child_setup

log = logging.getLogger(__name__)

ENV_PROJECT = "PROOFLOOP_LEAN_PROJECT"
ENV_REPL = "PROOFLOOP_LEAN_REPL"
ENV_CONFIG = "PROOFLOOP_LEAN_CONFIG"
ENV_LEAN = "PROOFLOOP_LEAN_BIN"
ENV_MODE = "PROOFLOOP_LEAN_MODE"
# Where `make lean` (provers/lean/build_lean.sh) puts a core-only Lean built from PyPI.
REPO_CACHE_LEAN = Path(__file__).resolve().parents[2] / ".cache" / "lean" / "bin" / "lean"
LEAN_HINT = (
    "run `make lean` in the repository for a core-only Lean (prelude files), or install elan "
    "(https://github.com/leanprover/elan) for a full toolchain, or set [lean] lean / "
    f"${ENV_LEAN} to a `lean` binary (see docs/lean.md)"
)
INSTALL_HINT = (
    "install elan (https://github.com/leanprover/elan), clone https://github.com/leanprover-community/repl "
    "(or a Lake project that requires it) and run `lake build repl` there, then set [lean] project or "
    f"${ENV_PROJECT} to that directory (see docs/lean.md)"
)
# Where `lake build` puts the REPL: in the REPL's own checkout, or in a project that requires it.
REPL_BINARIES = (
    ".lake/build/bin/repl",
    ".lake/packages/REPL/.lake/build/bin/repl",
    ".lake/packages/repl/.lake/build/bin/repl",
)
LEAN4CHECKER_BINARIES = (
    ".lake/packages/lean4checker/.lake/build/bin/lean4checker",
    ".lake/build/bin/lean4checker",
)
_PROBE_TIMEOUT_S = 60.0
_LAKE_ENV_TIMEOUT_S = 300.0  # the first `lake env` in a fresh project may resolve dependencies


class LeanConfig(BaseModel):
    """The `[lean]` section of a run config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["auto", "repl", "file"] = Field(
        "auto",
        description="How proofs are checked: `repl` (warm REPL processes), `file` (one `lean --json` "
        "run per candidate), or `auto` (the REPL when one is configured or on PATH, else file).",
    )
    lean: Path | None = Field(None, description="The `lean` binary of the whole-file mode; default: found.")
    project: Path | None = Field(None, description="Lake project directory with the REPL built (`lake build repl`).")
    repl: Path | None = Field(None, description="REPL binary; default: found under `project`, else `repl` on PATH.")
    processes: int = Field(1, ge=1, description="REPL processes kept per checking process.")
    max_uses: int = Field(200, ge=1, description="Checks one REPL process serves before it is replaced.")
    memory_mb: int = Field(
        16384, ge=0, description="Address-space cap (RLIMIT_AS) of each REPL process in MiB; 0 for none."
    )
    header_timeout_s: float = Field(600.0, gt=0, description="Time to elaborate a header (imports included).")
    max_restarts: int = Field(3, ge=0, description="Restarts in a row after REPL crashes before giving up.")
    restart_backoff_s: float = Field(1.0, ge=0, description="First wait before a restart; doubles each time.")
    header_cache: int = Field(8, ge=1, description="Elaborated headers kept per REPL process.")
    lean4checker: bool = Field(False, description="Replay every verified proof with lean4checker as well.")

    @classmethod
    def from_env(cls, **overrides: Any) -> "LeanConfig":
        """The config this process was given: $PROOFLOOP_LEAN_PROJECT / $PROOFLOOP_LEAN_REPL, then
        $PROOFLOOP_LEAN_CONFIG (a whole `[lean]` table as JSON), then `overrides`."""
        values: dict[str, Any] = {}
        for env, key in ((ENV_PROJECT, "project"), (ENV_REPL, "repl"), (ENV_LEAN, "lean"), (ENV_MODE, "mode")):
            if os.environ.get(env):
                values[key] = os.environ[env]
        if os.environ.get(ENV_CONFIG):
            try:
                values.update(json.loads(os.environ[ENV_CONFIG]))
            except (json.JSONDecodeError, TypeError):
                raise ConfigError(f"${ENV_CONFIG} is not a JSON object: {os.environ[ENV_CONFIG][:80]!r}") from None
        values.update(overrides)
        return cls.from_section(values)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> "LeanConfig":
        """Validate a `[lean]` table; a wrong key or value raises ConfigError naming it."""
        if not isinstance(section, dict):
            raise ConfigError(f"[lean] must be a table, got {type(section).__name__}")
        try:
            return cls.model_validate(section)
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "lean"
            raise ConfigError(f"[lean] {key}: {err['msg']}") from None


@dataclass(frozen=True)
class Toolchain:
    """A working `lean` (and, in the REPL mode, the REPL) and how to start them."""

    repl: Path | None  # None in the whole-file mode
    lean: Path
    lean_version: str  # e.g. "4.9.0"
    env: dict[str, str] = field(repr=False)
    project: Path | None = None
    lean4checker: Path | None = None

    @property
    def mode(self) -> str:
        return "file" if self.repl is None else "repl"

    @property
    def argv(self) -> list[str]:
        if self.repl is None:
            raise ToolchainMissing(f"this needs the Lean REPL, and [lean] mode is file; {INSTALL_HINT}")
        return [str(self.repl)]

    @property
    def version(self) -> str:
        return f"lean {self.lean_version} ({self.mode})"

    @functools.cached_property
    def search_path(self) -> tuple[Path, ...]:
        """Where this Lean looks for compiled modules: LEAN_PATH, then its own `lib/lean`."""
        entries = [Path(p) for p in self.env.get("LEAN_PATH", "").split(os.pathsep) if p]
        try:
            libdir = subprocess.run(
                [str(self.lean), "--print-libdir"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                env=self.env, check=False, preexec_fn=child_setup(0, None),
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ToolchainMissing(f"`{self.lean} --print-libdir` failed: {e}; {LEAN_HINT}") from None
        return tuple(entries + ([Path(libdir)] if libdir else []))

    def missing_modules(self, modules: Iterable[str]) -> list[str]:
        """The modules (e.g. "Init", "Mathlib.Data.Real.Basic") no search path entry holds."""
        def found(module: str) -> bool:
            parts = module.replace("«", "").replace("»", "").split(".")
            return any(root.joinpath(*parts[:-1], parts[-1] + ".olean").is_file() for root in self.search_path)

        return [m for m in modules if not found(m)]


def discover(config: LeanConfig) -> Toolchain:
    """Find and probe the toolchain `config` describes; raises ToolchainMissing."""
    if resolved_mode(config) == "file":
        return _for_files(config)
    if config.project is not None:
        return _from_project(Path(config.project).expanduser(), config)
    return _from_path(config)


def resolved_mode(config: LeanConfig) -> str:
    """`repl` or `file`: `auto` takes the REPL when one is configured or on PATH."""
    if config.mode != "auto":
        return config.mode
    if config.project is not None or config.repl is not None or _which_path("repl", os.environ):
        return "repl"
    return "file"


def _for_files(config: LeanConfig) -> Toolchain:
    """The whole-file mode's toolchain: a project's `lean` with its environment, or a found `lean`."""
    if config.project is not None:
        project = Path(config.project).expanduser()
        _require_project(project)
        env = _lake_env(_lake(project), project)
        lean = shutil.which("lean", path=env.get("PATH")) or _elan_bin("lean")
        if lean is None:
            raise ToolchainMissing(f"`lean` is not on PATH inside `lake env` of {project}; {INSTALL_HINT}")
        return _probed(None, Path(lean), env, project, _first_file(project, LEAN4CHECKER_BINARIES), config)
    lean = find_lean(config)
    return _probed(None, lean, dict(os.environ), None, _which_path("lean4checker", os.environ), config)


def find_lean(config: LeanConfig) -> Path:
    """`[lean] lean`, else `lean` on PATH (elan's), else the repository's .cache/lean; or raise."""
    if config.lean is not None:
        path = Path(config.lean).expanduser()
        if not path.is_file():
            raise ToolchainMissing(f"[lean] lean / ${ENV_LEAN} = {path} does not exist; {LEAN_HINT}")
        return path
    found = shutil.which("lean") or _elan_bin("lean")
    if found is not None:
        return Path(found)
    if REPO_CACHE_LEAN.is_file():
        return REPO_CACHE_LEAN
    raise ToolchainMissing(
        f"Lean not found: [lean] lean / ${ENV_LEAN} unset, no `lean` on PATH or in ~/.elan/bin, "
        f"no {REPO_CACHE_LEAN}; {LEAN_HINT}"
    )


def _require_project(project: Path) -> None:
    where = f"[lean] project / ${ENV_PROJECT} = {project}"
    if not project.is_dir():
        raise ToolchainMissing(f"Lean project not found: {where} is not a directory; {INSTALL_HINT}")
    if not any((project / name).is_file() for name in ("lakefile.lean", "lakefile.toml")):
        raise ToolchainMissing(f"{where} is not a Lake project (no lakefile.lean or lakefile.toml); {INSTALL_HINT}")


def _lake(project: Path) -> Path:
    lake = shutil.which("lake") or _elan_bin("lake")
    if lake is None:
        raise ToolchainMissing(f"`lake` is not on PATH (needed to run Lean in {project}); {INSTALL_HINT}")
    return Path(lake)


def _from_project(project: Path, config: LeanConfig) -> Toolchain:
    _require_project(project)
    repl = _explicit(config.repl) or _first_file(project, REPL_BINARIES)
    if repl is None:
        looked = ", ".join(str(project / b) for b in REPL_BINARIES)
        raise ToolchainMissing(
            f"the Lean REPL is not built in {project} (looked for {looked}); run `lake build repl` there"
        )
    env = _lake_env(_lake(project), project)
    lean = shutil.which("lean", path=env.get("PATH")) or _elan_bin("lean")
    if lean is None:
        raise ToolchainMissing(f"`lean` is not on PATH inside `lake env` of {project}; {INSTALL_HINT}")
    checker = _first_file(project, LEAN4CHECKER_BINARIES) or _which_path("lean4checker", env)
    return _probed(repl, Path(lean), env, project, checker, config)


def _from_path(config: LeanConfig) -> Toolchain:
    repl = _explicit(config.repl) or _which_path("repl", os.environ)
    lean = shutil.which("lean") or _elan_bin("lean")
    if repl is None:
        found = {tool: shutil.which(tool) or _elan_bin(tool) for tool in ("lean", "lake")}
        seen = ", ".join(f"`{t}` on PATH: {p or 'absent'}" for t, p in found.items())
        raise ToolchainMissing(
            f"Lean REPL not found: looked for [lean] project / ${ENV_PROJECT} (unset), [lean] repl / ${ENV_REPL} "
            f"(unset), `repl` on PATH (absent); {seen}; {INSTALL_HINT}"
        )
    if lean is None:
        raise ToolchainMissing(f"the REPL {repl} needs `lean` on PATH, which is absent; {INSTALL_HINT}")
    env = dict(os.environ)
    checker = _which_path("lean4checker", env)
    return _probed(repl, Path(lean), env, None, checker, config)


def _probed(
    repl: Path | None, lean: Path, env: dict[str, str], project: Path | None, checker: Path | None, config: LeanConfig
) -> Toolchain:
    if repl is not None and not os.access(repl, os.X_OK):
        raise ToolchainMissing(f"the Lean REPL {repl} is not executable; rebuild it with `lake build repl`")
    version = lean_version(lean, env)
    if config.lean4checker and checker is None:
        raise ToolchainMissing(
            "[lean] lean4checker = true but lean4checker is not installed: add "
            '`require lean4checker from git "https://github.com/leanprover/lean4checker"` to the project and '
            "run `lake build lean4checker`, or put it on PATH"
        )
    # The REPL finds Lean's own library through `lean --print-prefix`, so `lean` must be on PATH.
    path = env.get("PATH", "")
    if str(lean.parent) not in path.split(os.pathsep):
        env = {**env, "PATH": os.pathsep.join(p for p in (str(lean.parent), path) if p)}
    log.info("Lean %s, %s%s", version, f"REPL {repl}" if repl else f"{lean}, whole files", f", project {project}" if project else "")
    return Toolchain(repl=repl, lean=lean, lean_version=version, env=env, project=project, lean4checker=checker)


def lean_version(lean: Path, env: dict[str, str]) -> str:
    """The version `lean --version` reports, e.g. "4.9.0"; a broken lean raises ToolchainMissing."""
    try:
        out = subprocess.run(
            [str(lean), "--version"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            env=env,
            check=False,
            preexec_fn=child_setup(0, None),  # Lean needs GBs of address space just to start
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolchainMissing(f"`{lean} --version` failed ({e}); {INSTALL_HINT}") from None
    m = re.search(r"version (\S+?),?\s", out.stdout + " ")
    if out.returncode != 0 or m is None:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolchainMissing(f"`{lean} --version` is broken (exit {out.returncode}: {tail[0]}); {INSTALL_HINT}")
    return m.group(1)


_DUMP_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


def _lake_env(lake: Path, project: Path) -> dict[str, str]:
    """The environment `lake env` sets up in `project` (LEAN_PATH, PATH, ...), read once."""
    try:
        out = subprocess.run(
            [str(lake), "env", sys.executable, "-c", _DUMP_ENV],
            cwd=project,
            preexec_fn=child_setup(0, None),
            capture_output=True,
            text=True,
            timeout=_LAKE_ENV_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolchainMissing(f"`lake env` failed in {project} ({e}); {INSTALL_HINT}") from None
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ToolchainMissing(
            f"`lake env` failed in {project} (exit {out.returncode}: {tail[0]}); run `lake build` there"
        )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise ToolchainMissing(f"`lake env` in {project} printed no environment; run `lake build` there") from None


def _explicit(path: Path | None) -> Path | None:
    if path is None:
        return None
    path = Path(path).expanduser()
    if not path.is_file():
        raise ToolchainMissing(f"[lean] repl / ${ENV_REPL} = {path} does not exist; build it with `lake build repl`")
    return path


def _first_file(root: Path, candidates: tuple[str, ...]) -> Path | None:
    return next((root / c for c in candidates if (root / c).is_file()), None)


def _which_path(tool: str, env: dict[str, str] | os._Environ) -> Path | None:
    found = shutil.which(tool, path=env.get("PATH"))
    return Path(found) if found else None


def _elan_bin(tool: str) -> str | None:
    # elan installs into ~/.elan/bin, which a non-login shell may not have on PATH.
    path = Path.home() / ".elan" / "bin" / tool
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None
