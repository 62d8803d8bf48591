"""GeneratorConfig: defaults, validation messages, and the backend factory's errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from proofloop.errors import ConfigError
from proofloop.generate import GeneratorConfig, make_generator

REPO = Path(__file__).resolve().parents[1]


def _error(**kwargs) -> str:
    with pytest.raises(ValidationError) as e:
        GeneratorConfig(**kwargs)
    return str(e.value)


def test_defaults_are_the_embedded_cpu_setup():
    cfg = GeneratorConfig()
    assert (cfg.backend, cfg.model, cfg.device, cfg.dtype) == ("hf", None, "auto", "auto")
    assert cfg.batch_size >= 1 and cfg.api_key_env == "OPENAI_API_KEY"
    assert all(field.description for field in GeneratorConfig.model_fields.values())


def test_config_is_frozen_and_refuses_unknown_keys():
    cfg = GeneratorConfig()
    with pytest.raises(ValidationError, match="frozen"):
        cfg.backend = "vllm"
    assert "Extra inputs are not permitted" in _error(backend="hf", modle="x")
    assert cfg.model_copy(update={"model": "m"}).model == "m"


def test_bad_values_name_the_key_and_the_allowed_values():
    message = _error(backend="tgi")
    assert "backend" in message and "'hf', 'vllm', 'openai' or 'grammar'" in message
    assert "dtype" in _error(dtype="int8")
    assert "batch_size" in _error(batch_size=0) and "greater than or equal to 1" in _error(batch_size=0)
    assert "gpu_memory_utilization" in _error(gpu_memory_utilization=1.5)


def test_backend_requirements_say_how_to_fix_them():
    assert "backend 'openai' needs base_url" in _error(backend="openai", model="m")
    assert 'base_url = "http://localhost:8000/v1"' in _error(backend="openai", model="m")
    assert "must start with http:// or https://" in _error(backend="openai", model="m", base_url="localhost:8000")
    assert "needs model" in _error(backend="openai", base_url="http://h/v1")
    assert 'use backend = "hf" on CPU' in _error(backend="vllm", model="m", device="cpu")
    assert 'use dtype = "float32"' in _error(device="cpu", dtype="float16")
    # The same settings, fixed, are accepted.
    assert GeneratorConfig(backend="openai", model="m", base_url="http://h/v1").base_url == "http://h/v1"
    assert GeneratorConfig(backend="vllm", model="m", device="cuda").device == "cuda"
    assert GeneratorConfig(device="cpu", dtype="float32").dtype == "float32"


def test_make_generator_needs_what_each_backend_samples_from():
    with pytest.raises(ConfigError, match="needs the prover and the problems"):
        make_generator(GeneratorConfig(backend="grammar"))
    with pytest.raises(ConfigError, match="generator.model is not set for backend 'vllm'"):
        make_generator(GeneratorConfig(backend="vllm"))


@pytest.mark.parametrize("name", ["vllm-prover.toml", "openai-server.toml"])
def test_example_configs_are_valid_run_configs(name):
    from proofloop.config import validate_config

    cfg = validate_config(tomllib.loads((REPO / "configs" / name).read_text()))
    assert cfg.generator.backend in ("vllm", "openai") and cfg.generator.model
    assert isinstance(cfg.generator, GeneratorConfig)
