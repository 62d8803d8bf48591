"""A node out of memory: Ray's memory monitor kills a check worker in the middle of a batch.

The monitor's threshold is a fraction of the node's memory fixed when the raylet starts, so
this test runs its batch in a child process with a cluster of its own whose threshold sits a
few GB above what the machine uses now (the session's cluster keeps Ray's default of 95%).
No RLIMIT_AS is set (`memory_mb=0`): only the monitor can stop the growing check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proofloop.types import CheckLimits, Status, Verdict
from test_executors import FakeProver, _expected, _items

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[1]
HEADROOM_GB = 3  # what the growing check may take before the monitor steps in
GROW = 11  # the index of the growing candidate among N items
N = 24


class GrowingProver(FakeProver):
    """FakeProver, and "grow" takes memory (touched pages) until something kills its process."""

    name = "growing"

    def check(self, problem, candidate, limits: CheckLimits) -> Verdict:
        if candidate == "grow":
            held = []
            while True:
                held.append(bytearray(64 * 2**20))  # zero-filled, so resident at once
                time.sleep(0.005)
        return super().check(problem, candidate, limits)


def _batch_in_own_cluster() -> None:
    """Child process: a local cluster (started with this process's RAY_* variables), one batch."""
    import ray

    from proofloop import prover as prover_registry
    from proofloop.executors import CheckPool

    path = os.pathsep.join([str(REPO / "tests"), str(REPO)])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    prover_registry.registry()["growing"] = "test_ray_oom:GrowingProver"
    items = _items(prover_registry.get_prover("growing"), N, {GROW: "grow"})
    seen: list[int] = []
    with CheckPool("ray", workers=2) as pool:
        verdicts = pool.check_batch(items, CheckLimits(timeout_s=60, memory_mb=0), progress=seen.append)
    print(json.dumps({
        "seen": sum(seen),
        "verdicts": [[v.status.value, v.reason, v.message] for v in verdicts],
        "expected": [s.value for s in _expected(items)],
    }))
    ray.shutdown()


def _threshold() -> float:
    """The monitor's threshold: the machine's memory in use now plus HEADROOM_GB, as a fraction."""
    psutil = pytest.importorskip("psutil")
    memory = psutil.virtual_memory()
    if memory.available < (HEADROOM_GB + 2) * 2**30:
        pytest.skip(f"needs {HEADROOM_GB + 2} GB of free memory")
    return (memory.total - memory.available + HEADROOM_GB * 2**30) / memory.total


def test_a_worker_the_memory_monitor_kills_gives_unknown_resource_and_the_batch_completes(tmp_path):
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # a cluster of its own, never the session's
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")]),
        "RAY_memory_usage_threshold": f"{_threshold():.4f}",
        "RAY_memory_monitor_refresh_ms": "100",
        # Ray re-runs a task the monitor killed without end by default; the growing check
        # would grow again each time, so one kill is final here.
        "RAY_task_oom_retries": "0",
    })
    code = "import test_ray_oom; test_ray_oom._batch_in_own_cluster()"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert time.monotonic() - started < 120
    status, reason, message = result["verdicts"][GROW]
    assert (status, reason) == (Status.UNKNOWN.value, "resource")
    assert "OutOfMemoryError" in message  # the monitor's kill, not a limit of the task's own
    others = [v[0] for i, v in enumerate(result["verdicts"]) if i != GROW]
    assert others == [s for i, s in enumerate(result["expected"]) if i != GROW]
    assert result["seen"] == N  # every item finished exactly once
