"""benchmarks/gpu_smoke.py: parses its arguments anywhere; without a GPU it says so in one line and fails."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_smoke.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments_parse_with_their_defaults_and_overrides():
    smoke = _module()
    args = smoke.parse_args([])
    assert (args.size, args.steps, args.skip) == ("base100m", 60, [])
    args = smoke.parse_args(["--steps", "5", "--skip", "run", "--skip", "sample", "--size", "tiny"])
    assert (args.size, args.steps, args.skip) == ("tiny", 5, ["run", "sample"])
    with pytest.raises(SystemExit):
        smoke.parse_args(["--skip", "nothing"])


def test_without_a_gpu_it_prints_one_line_and_exits_non_zero():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"gpu_smoke: no CUDA GPU visible to torch {torch.__version__}; nothing measured"]


def test_the_100m_preset_is_about_100m_parameters():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from proofloop.tinymodel import SIZES

    s = SIZES["base100m"]
    config = LlamaConfig(vocab_size=s.vocab_size, hidden_size=s.hidden_size, num_hidden_layers=s.num_layers,
                         num_attention_heads=s.num_heads, num_key_value_heads=s.num_heads,
                         intermediate_size=s.intermediate_size, tie_word_embeddings=True)
    with torch.device("meta"):  # shapes only, no memory
        model = LlamaForCausalLM(config)
    assert 90e6 < sum(p.numel() for p in model.parameters()) < 110e6
