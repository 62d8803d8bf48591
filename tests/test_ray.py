"""Checking and sampling on a local Ray cluster (2 CPUs): limits, faults, order, and a whole run."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from proofloop import prover as prover_registry
from proofloop.executors import CheckPool, hard_deadline_s
from proofloop.raycheck import RayOptions
from proofloop.types import CheckLimits, Status
from test_executors import _expected, _items

pytestmark = pytest.mark.ray


@pytest.fixture
def fake(monkeypatch, ray_cluster):
    # Ray workers build the prover by module path; the cluster's PYTHONPATH holds tests/.
    monkeypatch.setitem(prover_registry.registry(), "fake", "test_executors:FakeProver")
    prover = prover_registry.get_prover("fake")
    monkeypatch.setattr(prover, "salt", "")
    return prover


def _statuses_except(verdicts, items, skip):
    got = [v.status for i, v in enumerate(verdicts) if i not in skip]
    return got == [s for i, s in enumerate(_expected(items)) if i not in skip]


def test_ray_limits_hold_inside_tasks(fake):
    limits = CheckLimits(timeout_s=0.2, memory_mb=256)
    items = _items(fake, 16, {3: "sleep:600", 9: "hog", 12: "kill"})
    seen = []
    started = time.monotonic()
    with CheckPool("ray", workers=2) as pool:
        verdicts = pool.check_batch(items, limits, progress=seen.append)
    assert time.monotonic() - started < 120  # the sleeper was stopped (new Ray workers start slowly)
    assert (verdicts[3].status, verdicts[3].reason) == (Status.UNKNOWN, "timeout")
    assert hard_deadline_s(limits) <= verdicts[3].seconds < hard_deadline_s(limits) + 2
    assert (verdicts[9].status, verdicts[9].reason) == (Status.UNKNOWN, "resource")
    assert "256 MB" in verdicts[9].message  # the task's RLIMIT_AS stopped the hog
    assert (verdicts[12].status, verdicts[12].reason) == (Status.UNKNOWN, "resource")
    assert "died" in verdicts[12].message
    assert _statuses_except(verdicts, items, {3, 9, 12})
    assert sum(seen) == len(items)  # every item finished exactly once
    assert f"checked in {os.getpid()}" not in {v.message for v in verdicts}


def test_ray_matches_the_local_pool(fake):
    items = _items(fake, 30)
    with CheckPool("ray", workers=2) as ray_pool, CheckPool("local", workers=2) as local:
        on_ray = ray_pool.check_batch(items, CheckLimits(timeout_s=2))
        here = local.check_batch(items, CheckLimits(timeout_s=2))
    assert [(v.status, v.reason) for v in on_ray] == [(v.status, v.reason) for v in here]


def test_a_ray_worker_killed_mid_batch_leaves_one_verdict_per_item(fake, tmp_path):
    # Every item notes its worker's pid and takes a moment; a worker is killed from outside while
    # it checks. Ray re-runs the lost task; the batch completes with exactly one verdict each.
    items = [(p, f"pid:{tmp_path}:0.3#{i}") for i, (p, _) in enumerate(_items(fake, 24))]
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            pids = [int(f.name) for f in tmp_path.iterdir()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    seen = []
    with CheckPool("ray", workers=2, ray=RayOptions(max_retries=2)) as pool:
        verdicts = pool.check_batch(items, CheckLimits(timeout_s=5), progress=seen.append)
    killer.join()
    assert killed
    assert sum(seen) == len(items) and all(v is not None for v in verdicts)
    assert {v.status for v in verdicts} == {Status.REJECTED}  # checked, none lost to the kill
    assert len({int(f.name) for f in tmp_path.iterdir()}) >= 2  # the killed worker was replaced


def test_a_session_joins_the_open_connection_and_leaves_it_open(fake):
    from proofloop.raycheck import RaySession

    from proofloop.raycheck import _CONNECTION

    session = RaySession(RayOptions(address="127.0.0.1:1"))
    session.connect()  # the address is never dialled: this process is already connected
    assert not _CONNECTION.started and _CONNECTION.users == 1
    session.close()
    import ray

    assert ray.is_initialized() and _CONNECTION.users == 0  # closing a session that joined never stops the cluster


def test_sessions_share_one_connection_and_refuse_another_cluster(fake):
    from proofloop.errors import ConfigError
    from proofloop.raycheck import _CONNECTION, RaySession

    first, second = RaySession(RayOptions()), RaySession(RayOptions())
    first.connect(), second.connect(), second.connect()  # connecting twice holds once
    assert _CONNECTION.users == 2
    with pytest.raises(ConfigError, match="already connected"):
        RaySession(RayOptions(address="10.0.0.1:6379")).connect()
    with pytest.raises(ConfigError, match="ship_code"):
        RaySession(RayOptions(ship_code=True)).connect()
    first.close(), first.close()
    assert _CONNECTION.users == 1
    second.close()
    assert _CONNECTION.users == 0 and _CONNECTION.key is None
    import ray

    assert ray.is_initialized()  # the cluster belongs to whoever started it


def test_ray_workers_check_with_the_parents_settings(fake):
    items = _items(fake, 6)
    fake.configure({"salt": "pepper"})
    with CheckPool("ray", workers=2) as pool:
        verdicts = pool.check_batch(items, CheckLimits(timeout_s=5))
    assert all(v.message.endswith("with pepper") for v in verdicts)
    assert all(f"checked in {os.getpid()} " not in v.message for v in verdicts)


# ---- sampling replicas -------------------------------------------------------------------------


def test_two_replicas_sample_what_one_does_in_order(ray_cluster, tmp_path):
    # One replica samples prompt i alone with prompt_seed(seed, i): what this process does below.
    from proofloop.generate import GeneratorConfig, SamplingParams, Scorer, make_generator
    from proofloop.generate.hf import HFGenerator
    from proofloop.generate.replicas import RayReplicas, prompt_seed
    from proofloop.tinymodel import init_model

    model = str(init_model(tmp_path / "tiny", ["(define-fun f ((x Int)) Int (+ x 1))"] * 4))
    prompts = [f"(synth-fun f{i} ((x Int)) Int)" for i in range(5)]
    params = SamplingParams(temperature=1.0, max_new_tokens=8, seed=7)
    two = make_generator(GeneratorConfig(backend="hf", model=model, device="cpu", replicas=2))
    assert isinstance(two, RayReplicas) and isinstance(two, Scorer) and len(two.actors) == 2
    answers = ["(+ x 1))"] * len(prompts)
    try:
        by_two = two.generate(prompts, 3, params)
        scored, counted = two.score(prompts, answers), two.count_tokens(answers)
    finally:
        two.close()
    here = HFGenerator.load(model, device="cpu")
    assert scored == pytest.approx(here.score(prompts, answers), rel=1e-5) and counted == here.count_tokens(answers)
    alone = [here.generate([p], 3, replace(params, seed=prompt_seed(7, i)))[0] for i, p in enumerate(prompts)]
    assert [[c.token_ids for c in s] for s in by_two] == [[c.token_ids for c in s] for s in alone]
    assert [len(s) for s in by_two] == [3] * len(prompts)
    assert len({tuple(c.token_ids for c in s) for s in by_two}) > 1  # prompts drew with their own seeds


def test_replicas_and_a_check_pool_share_one_connection_to_a_named_cluster(ray_cluster, fake, tmp_path):
    # Both ask for the cluster by its address; closing the check pool leaves the replicas working.
    from proofloop.generate import GeneratorConfig, SamplingParams, make_generator
    from proofloop.raycheck import _CONNECTION
    from proofloop.tinymodel import init_model

    model = str(init_model(tmp_path / "tiny", ["(define-fun f ((x Int)) Int (+ x 1))"] * 4))
    options = RayOptions(address=ray_cluster)
    replicas = make_generator(GeneratorConfig(backend="hf", model=model, device="cpu", replicas=2), ray=options)
    try:
        with CheckPool("ray", workers=2, ray=options) as pool:  # connects at its first batch
            items = _items(fake, 6)
            assert [v.status for v in pool.check_batch(items, CheckLimits(timeout_s=5))] == _expected(items)
            assert _CONNECTION.users == 2 and _CONNECTION.key[0] == ray_cluster
        assert _CONNECTION.users == 1
        samples = replicas.generate(["(synth-fun f ((x Int)) Int)"], 2, SamplingParams(max_new_tokens=4, seed=1))
        assert len(samples) == 1 and len(samples[0]) == 2
    finally:
        replicas.close()
    assert _CONNECTION.users == 0


# ---- a whole run on Ray, killed and resumed -----------------------------------------------------


def test_run_on_ray_killed_and_resumed_loses_and_repeats_no_verdict(ray_cluster, tmp_path):
    import sqlite3

    from loop_fixtures import assert_store_invariants, write_config, write_problems
    from test_loop import _kill_when, _start

    problems = write_problems(tmp_path / "problems")
    checker = {"executor": "ray", "workers": 2, "ray_ship_code": True}
    # Sampling runs on Ray too: round 1 and the evaluations draw from two engine replicas.
    generator = {"replicas": 2}
    config = write_config(tmp_path / "c.toml", problems, tmp_path / "runs", "ray", checker=checker, generator=generator)
    run_dir = tmp_path / "runs" / "ray"
    store = run_dir / "store.sqlite"
    os.environ["RAY_ADDRESS"] = ray_cluster  # the driver joins the session's cluster, which outlives it
    try:
        proc = _start(["--config", str(config)])
        _kill_when(proc, store, "SELECT 1 FROM verdicts LIMIT 1", "first verdicts stored")
        before = _verdicts(store)
        proc = _start(["--resume", str(run_dir)])
        out, err = proc.communicate(timeout=1500)
    finally:
        del os.environ["RAY_ADDRESS"]
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == f"run_dir: {run_dir}"
    after = _verdicts(store)
    assert before and all(after[key] == row for key, row in before.items())  # none lost, none recomputed
    assert_store_invariants(run_dir, n=4, eval_n=4, k=2, rounds=1)
    conn = sqlite3.connect(store)
    checked = sum(v for (v,) in conn.execute("SELECT value FROM round_stats WHERE key LIKE 'checks_%'"))
    conn.close()
    assert checked <= len(after)  # a verdict checked twice would be counted twice


def _verdicts(store: Path) -> dict[tuple, tuple]:
    import sqlite3

    conn = sqlite3.connect(store)
    rows = conn.execute("SELECT problem_id, canonical_hash, status, seconds, created_at FROM verdicts").fetchall()
    conn.close()
    return {r[:2]: r[2:] for r in rows}
