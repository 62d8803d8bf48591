"""Shared fixtures and the skip rules for markers (lean, lean_repl, gpu, ray, shared)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO.parent / "shared" / "benchmarks" / "sygus"


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _lean_missing(mode: str) -> str | None:
    """Why the Lean tests of `mode` cannot run here (None when they can)."""
    from proofloop.errors import ToolchainMissing
    from provers.lean.toolchain import LeanConfig, discover

    try:
        discover(LeanConfig.from_env(mode=mode))
    except ToolchainMissing as e:
        return f"needs Lean ({'`make lean`' if mode == 'file' else 'with the REPL'}): {str(e)[:200]}"
    return None


def pytest_collection_modifyitems(config, items):
    marked = {m for item in items for m in ("lean", "lean_repl") if item.get_closest_marker(m)}
    reasons = {
        "lean": _lean_missing("file") if "lean" in marked else None,
        "lean_repl": _lean_missing("repl") if "lean_repl" in marked else None,
        "gpu": None if _has_gpu() else "needs a CUDA GPU",
        "ray": None if importlib.util.find_spec("ray") else "needs ray (pip install 'proofloop[ray]')",
        "shared": None if SHARED_BENCHMARKS.is_dir() else f"needs {SHARED_BENCHMARKS}",
    }
    for item in items:
        for marker, reason in reasons.items():
            # Markers only: `item.keywords` also holds the names of the folders above the test
            # (a checkout in a folder named `lean` would skip every test).
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def shared_benchmarks() -> Path:
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"needs {SHARED_BENCHMARKS}")
    return SHARED_BENCHMARKS


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny-model tests on one torch thread.

    Tiny matmuls gain nothing from a second thread, and on a busy machine two spinning threads
    per process stall each other (10x slower steps were seen).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster for the session (2 CPUs, no dashboard); yields its address.

    Its workers find the tests' modules (FakeProver) and this checkout's code on PYTHONPATH.
    """
    ray = pytest.importorskip("ray")
    path = os.pathsep.join([str(REPO / "tests"), str(REPO), os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
