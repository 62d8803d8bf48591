"""The vLLM backend: a clear error where vllm is missing; real sampling on a GPU (gpu marker)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from proofloop.errors import ToolchainMissing
from proofloop.generate import GeneratorConfig, SamplingParams, make_generator

CORPUS = [
    "(set-logic LIA)\n(synth-fun max2 ((x Int) (y Int)) Int)\n(constraint (>= (max2 x y) x))\n(check-synth)",
    "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))",
] * 8
PROMPTS = ["(synth-fun f ((x Int)) Int", "(define-fun max2 ((x Int) (y Int)) Int"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_vllm_says_what_to_install(tmp_path):
    with pytest.raises(ToolchainMissing) as e:
        make_generator(GeneratorConfig(backend="vllm", model=str(tmp_path)))
    message = str(e.value)
    assert "pip install 'proofloop[vllm]'" in message and "GPU" in message and "\n" not in message


@pytest.fixture(scope="module")
def vllm_gen(tmp_path_factory):
    pytest.importorskip("vllm")
    from proofloop.tinymodel import init_model

    model = init_model(tmp_path_factory.mktemp("tiny") / "model", CORPUS, seed=0)
    cfg = GeneratorConfig(backend="vllm", model=str(model), dtype="float32", gpu_memory_utilization=0.3)
    return make_generator(cfg), model


@pytest.mark.gpu
def test_vllm_samples_n_distinct_reproducible_completions(vllm_gen):
    gen, _ = vllm_gen
    params = SamplingParams(temperature=1.0, max_new_tokens=16, seed=3)
    out = gen.generate(PROMPTS, 5, params)
    assert [len(cs) for cs in out] == [5, 5]
    assert all(len({c.text for c in cs}) == 5 for cs in out)
    assert all(
        math.isfinite(c.logprob) and c.logprob < 0 and c.num_tokens == len(c.token_ids) for cs in out for c in cs
    )
    assert [[c.text for c in cs] for cs in gen.generate(PROMPTS, 5, params)] == [[c.text for c in cs] for cs in out]


@pytest.mark.gpu
def test_vllm_log_probs_match_the_models_own_scoring(vllm_gen):
    from proofloop.generate.hf import HFGenerator

    gen, model = vllm_gen
    out = gen.generate(PROMPTS, 3, SamplingParams(temperature=0.8, max_new_tokens=12, seed=1))
    hf = HFGenerator.load(str(model), device="cpu")
    flat = [(p, c) for p, cs in zip(PROMPTS, out) for c in cs]
    scores = hf.score_ids([p for p, _ in flat], [c.token_ids for _, c in flat])
    for score, (_, c) in zip(scores, flat):
        assert c.logprob == pytest.approx(score, rel=1e-2, abs=5e-2)


@pytest.mark.gpu
def test_vllm_stop_strings_cut_the_text(vllm_gen):
    gen, _ = vllm_gen
    free = gen.generate(PROMPTS[:1], 4, SamplingParams(max_new_tokens=24, seed=9))[0]
    text = next(c.text for c in free if len(c.text) > 4)
    stop = next(ch for ch in text[2:] if ch.isascii() and ch.isprintable())
    stopped = gen.generate(PROMPTS[:1], 4, SamplingParams(max_new_tokens=24, seed=9, stop=(stop,)))[0]
    assert all(stop not in c.text for c in stopped)
    assert any(len(c.text) < len(f.text) for c, f in zip(stopped, free))
