"""The installable wheel: it builds, installs outside the source tree, and carries the bundled problems."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

# What a wheel is built from; tests, configs and benchmarks stay out of it.
SOURCES = ("pyproject.toml", "README.md", "proofloop", "provers", "problems")


def test_the_package_list_names_every_package_and_problem_folder(repo_root):
    """pyproject lists packages by hand (the problems are mapped into proofloop.bundled), so a new
    package or a new folder of bundled problems must be added there to reach the wheel."""
    setuptools = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    code = {
        ".".join(init.parent.relative_to(repo_root).parts)
        for top in ("proofloop", "provers")
        for init in (repo_root / top).rglob("__init__.py")
    }
    problems = repo_root / setuptools["package-dir"]["proofloop.bundled"]
    data = {
        ".".join(("proofloop", "bundled", *folder.relative_to(problems).parts))
        for folder in [problems, *problems.rglob("*")]
        if folder.is_dir() and any(folder.glob("*.sl")) or folder == problems
    }
    assert listed == code | data


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv[:3]} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_source_tree(repo_root, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # No build isolation: the build uses this environment's setuptools, so it runs offline.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(src)],
         tmp_path, env, 300)
    (wheel,) = (tmp_path / "dist").glob("proofloop-*.whl")

    # A fresh venv; the heavy dependencies (torch, transformers, z3) come from this environment
    # through a .pth line instead of being installed again. proofloop itself comes only from the wheel.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env, 60)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, env, 30).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         tmp_path, env, 300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(python), "-c", "import proofloop.problemfile as p; print(p.__file__); print(p.bundled_problems_dir())"],
                 work, env, 60).stdout.split()
    assert all(Path(line).is_relative_to(site) for line in where), where

    proofloop = str(venv / "bin" / "proofloop")
    problem = site / "proofloop" / "bundled" / "lia" / "max2.sl"
    checked = _run([proofloop, "check", str(problem), "--candidate",
                    "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))"], work, env, 60)
    assert checked.stdout.startswith("VERIFIED")

    overrides = [
        "loop.rounds=1", "problems.train_limit=3", "problems.heldout_limit=2", "sampling.n=2", "sampling.eval_n=2",
        "sampling.k=2", "sampling.max_new_tokens=16", "train.max_steps=2", "train.base_pretrain_steps=2",
        "checker.workers=1", "select.seed_fraction=1.0", "generator.device=\"cpu\"", "run.name=\"wheel\"",
    ]
    argv = [proofloop, "run"] + [arg for o in overrides for arg in ("--set", o)]
    ran = _run(argv, work, env, 600)
    last = ran.stdout.splitlines()[-1]
    assert last.startswith("run_dir: ")
    run_dir = work / last.removeprefix("run_dir: ")  # relative to the working directory, or absolute
    assert run_dir.resolve() == (work / "runs" / "wheel").resolve()
    assert (run_dir / "store.sqlite").is_file() and (run_dir / "report" / "report.html").is_file()
