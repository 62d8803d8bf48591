"""Run config: defaults, files, overrides, one-line errors, resume rules."""

from __future__ import annotations

import json

import pytest

from proofloop.config import RunConfig, load_config, load_resumed_config, parse_override
from proofloop.errors import ConfigError


def without_name(cfg: RunConfig) -> dict:
    data = cfg.to_dict()
    data["run"].pop("name")
    return data


def test_defaults_and_a_generated_run_name():
    cfg = load_config(None, [])
    assert cfg.sampling.n == 8 and cfg.sampling.k == 8 and cfg.select.per_problem_cap == 4
    assert cfg.loop.rounds == 3 and cfg.round0 == "grammar" and cfg.train.from_ == "continue"
    assert cfg.generator.backend == "hf" and cfg.generator.model is None
    assert cfg.run.name and cfg.run_dir().parent.name == "runs"
    assert len({load_config(None, []).run.name for _ in range(5)}) == 5


def test_configs_default_toml_is_the_embedded_default(repo_root):
    assert without_name(load_config(repo_root / "configs" / "default.toml", [])) == without_name(load_config(None, []))


def test_toml_and_yaml_files_then_overrides(tmp_path):
    (tmp_path / "a.toml").write_text('round0 = "model"\n[sampling]\nn = 4\n[train]\nfrom = "continue"\n')
    (tmp_path / "a.yaml").write_text("round0: model\nsampling:\n  n: 4\ntrain:\n  from: continue\n")
    for name in ("a.toml", "a.yaml"):
        cfg = load_config(tmp_path / name, ["sampling.temperature=0.5", "run.name=x", "problems.path=/data/p"])
        assert (cfg.round0, cfg.sampling.n, cfg.train.from_, cfg.sampling.temperature) == ("model", 4, "continue", 0.5)
        assert str(cfg.run_dir()) == "runs/x" and str(cfg.problems.path) == "/data/p"
    assert load_config(tmp_path / "a.toml", ["sampling.n=9"]).sampling.n == 9


@pytest.mark.parametrize(
    "item, value",
    [("a.b=null", None), ("a.b=3", 3), ("a.b=0.5", 0.5), ("a.b=true", True), ("a.b=hello", "hello"), ('a.b="3"', "3"), ("a.b=[1, 2]", [1, 2])],
)
def test_override_values_are_toml_literals_else_strings(item, value):
    assert parse_override(item) == ("a.b", value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["sampling.n=0"], "config: sampling.n: must be >= 1 (got 0)"),
        (
            ["sampling.nn=3"],
            "config: unknown key 'sampling.nn'; allowed: n, temperature, top_p, max_new_tokens, eval_n, "
            "eval_temperature, k, frontier, budget, mastered_share, retry_with_counterexample, coverage_n, coverage_problems",
        ),
        (
            ["bogus.x=1"],
            "config: unknown key 'bogus'; allowed: run, problems, generator, round0, sampling, checker, select, "
            "train, loop, search, lean",
        ),
        (["search.guide=neural"], "config: search.guide: must be one of 'uniform', 'pcfg', 'phog', 'model' or 'mix' (got 'neural')"),
        (["search.budget_s=0"], "config: search.budget_s: must be > 0.0 (got 0)"),
        (["round0=neural"], "config: round0: must be one of 'grammar' or 'model' (got 'neural')"),
        (["train.from=scratch"], "config: train.from: must be one of 'base' or 'continue' (got 'scratch')"),
        (["sampling.k=32"], "config: sampling.k: must be <= eval_n (8) (got 32)"),
        (["select.seed_fraction=1.5"], "config: select.seed_fraction: must be <= 1.0 (got 1.5)"),
        (["checker.executor=slurm"], "config: checker.executor: must be one of 'local' or 'ray' (got 'slurm')"),
        (["checker.timeout_s=0"], "config: checker.timeout_s: must be > 0.0 (got 0)"),
        (["sampling=3"], "config: sampling: must be a table of keys (got 3)"),
        (["loop.rounds"], "config: override 'loop.rounds' must look like section.key=value"),
        (["loop..rounds=1"], "config: override 'loop..rounds=1' must look like section.key=value"),
    ],
)
def test_bad_values_give_one_exact_line(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value) == message


def test_generator_section_errors_name_the_key():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["generator.backend=tpu"])
    assert str(e.value) == "config: generator.backend: must be one of 'hf', 'vllm', 'openai' or 'grammar' (got 'tpu')"


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^config: .*missing.toml: no such file$"):
        load_config(tmp_path / "missing.toml", [])
    (tmp_path / "c.ini").write_text("x=1")
    with pytest.raises(ConfigError, match=r"unknown config type '.ini'; use .toml, .yaml or .json$"):
        load_config(tmp_path / "c.ini", [])
    (tmp_path / "bad.toml").write_text("[sampling\nn = 1")
    with pytest.raises(ConfigError, match=r"^config: .*bad.toml: "):
        load_config(tmp_path / "bad.toml", [])
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list.yaml: expected a table of sections, got list$"):
        load_config(tmp_path / "list.yaml", [])
    (tmp_path / "typo.toml").write_text("[sampling]\ntemprature = 0.5\n")
    with pytest.raises(ConfigError, match=r"^config: unknown key 'sampling.temprature'; allowed: n, temperature"):
        load_config(tmp_path / "typo.toml", [])


def test_resume_allows_rounds_and_workers_but_not_what_changes_results():
    saved = json.loads(json.dumps(load_config(None, ["run.name=r"]).to_dict()))
    cfg = load_resumed_config(saved, ["loop.rounds=5", "checker.workers=1", "sampling.n=8"])
    assert (cfg.loop.rounds, cfg.checker.workers, cfg.run.name) == (5, 1, "r")
    with pytest.raises(ConfigError) as e:
        load_resumed_config(saved, ["sampling.n=4"])
    assert str(e.value).startswith("config: sampling.n=4 conflicts with the resumed run's sampling.n=8; only ")


def test_every_shipped_config_validates(repo_root):
    from proofloop.config import load_config

    paths = sorted((repo_root / "configs").glob("*.toml"))
    assert len(paths) >= 4
    for path in paths:
        cfg = load_config(path, [])
        assert cfg.problems.prover in ("z3", "lean")
    lean = load_config(repo_root / "configs" / "lean-minif2f-vllm.toml", [])
    assert lean.prover_settings()["project"] == "/opt/lean/checker"
    assert load_config(None, []).prover_settings() == {}
