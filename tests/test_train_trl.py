"""The TRL trainer path on a tiny random Qwen2 model built here: LoRA, bf16 on CPU, reloads, a LoRA run.

No download: the model is a Qwen2 config with random weights and the project's own BPE tokenizer.
"""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest
from typer.testing import CliRunner

from loop_fixtures import write_config, write_problems
from proofloop.cli import app
from proofloop.config import validate_config
from proofloop.errors import ConfigError
from proofloop.train import TrainSettings, load_result, train_sft
from proofloop.trainers import pick_trainer
from proofloop.trainers.checkpoint import ADAPTER_DIR

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = [f"(synth-fun f ((x Int)) Int) ; f({i}) = {i + 2}\n(define-fun f ((x Int)) Int " for i in range(12)]
EXAMPLES = [(p, "(+ x 2))") for p in PROMPTS]


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    """A 2-layer Qwen2 with random weights (grouped-query attention, untied head) and a BPE tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from proofloop.tinymodel import train_tokenizer

    out = tmp_path_factory.mktemp("qwen") / "base"
    tokenizer = train_tokenizer(PROMPTS + [c for _, c in EXAMPLES] * 3, 512)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _weights(path):
    from transformers import AutoModelForCausalLM

    return {k: v.float() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}


def _logits(model, tokenizer):
    import torch

    batch = tokenizer(PROMPTS[:3], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits.float()


def test_lora_trains_through_trl_and_the_checkpoint_reloads_with_peft(qwen, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "round-0"
    seen = []
    settings = TrainSettings(epochs=8, lr=2e-2, batch_size=4, warmup=1, lora_r=8, lora_alpha=16,
                             gradient_checkpointing=True, trainer="auto", device="cpu")
    result = train_sft(qwen, EXAMPLES, out, settings, progress=lambda step, total, loss: seen.append((step, total)))
    assert pick_trainer(settings) == "trl"
    assert result.steps == 24 and seen[-1] == (24, 24) and result.tokens > 0
    assert result.loss_last < 0.85 * result.loss_first  # a frozen random base: the adapters learn slower
    assert load_result(out) == result
    before, after = _weights(qwen), _weights(out)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    # The merged adapters moved the attention and MLP projections; norms and embeddings stayed frozen.
    assert changed and all(k.endswith("proj.weight") for k in changed)
    # base + adapter through peft gives the merged model's outputs, and merges into the same weights.
    tokenizer = AutoTokenizer.from_pretrained(out)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(qwen), out / ADAPTER_DIR)
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert torch.allclose(_logits(peft_model, tokenizer), _logits(merged, tokenizer), atol=1e-4)
    folded = peft_model.merge_and_unload().state_dict()
    assert all(torch.allclose(folded[k].float(), after[k], atol=1e-5) for k in changed)


def test_full_fine_tuning_in_bf16_on_cpu_with_accumulation(qwen, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "bf16"
    settings = TrainSettings(epochs=8, lr=5e-3, batch_size=4, warmup=1, dtype="bfloat16", grad_accum=2, trainer="trl")
    result = train_sft(qwen, EXAMPLES, out, settings)
    assert result.steps == 24 and result.loss_last < 0.5 * result.loss_first
    saved = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert next(saved.parameters()).dtype == torch.bfloat16  # the sampler's precision
    before, after = _weights(qwen), _weights(out)
    assert sum(not torch.equal(before[k], after[k]) for k in before) > len(before) // 2
    assert not (out / ADAPTER_DIR).exists()


def test_trl_and_the_simple_loop_agree_on_the_first_loss(qwen, tmp_path):
    # Same rows, same masking, same model: the first step sees the same batch loss up to batch order.
    trl = train_sft(qwen, EXAMPLES, tmp_path / "a", TrainSettings(batch_size=12, max_steps=1, trainer="trl"))
    simple = train_sft(qwen, EXAMPLES, tmp_path / "b", TrainSettings(batch_size=12, max_steps=1, trainer="simple"))
    assert trl.tokens == simple.tokens
    assert trl.loss_first == pytest.approx(simple.loss_first, rel=1e-3)


def test_auto_is_trl_everywhere_and_simple_only_when_asked_for():
    assert pick_trainer(TrainSettings()) == "trl"
    assert pick_trainer(TrainSettings(lora_r=4, grad_accum=2)) == "trl"
    assert pick_trainer(TrainSettings(trainer="simple")) == "simple"
    assert pick_trainer(TrainSettings(trainer="trl")) == "trl"


@pytest.mark.parametrize(("train", "message"), [
    ({"quantization": "4bit"}, "config: train.quantization: '4bit' quantizes a frozen base, so it needs LoRA; "
                               "set lora_r (e.g. 16)"),
    ({"batch_size": 6, "grad_accum": 4}, "config: train.grad_accum: batch_size (6) must be a multiple of grad_accum (4)"),
    ({"trainer": "simple", "lora_r": 4}, "config: train.trainer: 'simple' does not do lora_r; use trainer = \"trl\""),
])
def test_train_options_no_trainer_can_honour_are_config_errors(train, message):
    with pytest.raises(ConfigError) as e:
        validate_config({"train": train})
    assert str(e.value).startswith(message)


def test_a_two_round_run_with_lora(qwen, tmp_path):
    config = write_config(
        tmp_path / "run.toml", write_problems(tmp_path / "problems"), tmp_path / "runs", "lora",
        generator={"model": str(qwen), "device": "cpu"},
        train={"max_steps": 3, "batch_size": 4, "lr": 1e-2, "warmup": 1, "lora_r": 4, "device": "cpu"},
    )
    limits = ["--set", "problems.train_limit=3", "--set", "problems.heldout_limit=1"]
    result = CliRunner().invoke(app, ["run", "--config", str(config), *limits])
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert "round: 0" in out and "round: 1" in out
    for r in (0, 1):
        checkpoint = tmp_path / "runs" / "lora" / "checkpoints" / f"round-{r}"
        assert (checkpoint / ADAPTER_DIR / "adapter_config.json").is_file()
        assert (checkpoint / "config.json").is_file() and load_result(checkpoint).steps == 3
    # Round 1 sampled from round 0's merged LoRA checkpoint.
    store = sqlite3.connect(tmp_path / "runs" / "lora" / "store.sqlite")
    generators = dict(store.execute("SELECT round, generator FROM attempts WHERE purpose = 'train' GROUP BY round"))
    assert generators == {0: "grammar", 1: "hf:round-0"}


def _run_error(tmp_path, *sets):
    result = CliRunner().invoke(app, ["run", "--out-dir", str(tmp_path), *[a for s in sets for a in ("--set", s)]])
    return result.exit_code, result.stderr.strip().splitlines()


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_asking_for_a_missing_gpu_fails_in_one_line_before_any_work(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, lines = _run_error(tmp_path, "train.device=cuda")
    assert code == 2
    assert lines == [
        f"error: train.device = 'cuda' but no CUDA GPU is visible to torch (torch {torch.__version__}); "
        'set device = "cpu" or "auto"'
    ]
    assert not any(tmp_path.iterdir())  # no run directory was made


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_asking_for_4bit_without_bitsandbytes_fails_in_one_line(tmp_path):
    code, lines = _run_error(tmp_path, "train.lora_r=8", "train.quantization=4bit")
    assert code == 2
    assert lines == [
        "error: train.quantization = '4bit' needs the bitsandbytes package, which is not installed; "
        "`pip install bitsandbytes` on a CUDA machine, or unset quantization (plain LoRA)"
    ]


def test_training_under_accelerate_launch_writes_the_same_checkpoint(qwen, tmp_path):
    # One CPU process: the multi-GPU path's plumbing (spec file, launch, the main process saving) on any machine.
    config = tmp_path / "cpu.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nmixed_precision: 'no'\n"
                      "num_machines: 1\nnum_processes: 1\nuse_cpu: true\n")
    out = tmp_path / "launched"
    settings = TrainSettings(epochs=4, lr=2e-2, batch_size=4, warmup=1, lora_r=4, accelerate_config=str(config))
    result = train_sft(qwen, EXAMPLES, out, settings)
    assert result.steps == 12 and result.loss_last < result.loss_first
    assert load_result(out) == result and (out / ADAPTER_DIR / "adapter_config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.yaml", "launched"]  # no spec or staging left


def test_a_failed_launch_is_one_error_line(qwen, tmp_path):
    from proofloop.errors import ProofloopError

    with pytest.raises(ProofloopError, match=r"^train: `accelerate launch --config_file .*missing.yaml` failed"):
        train_sft(qwen, EXAMPLES, tmp_path / "x", TrainSettings(accelerate_config=str(tmp_path / "missing.yaml")))


def test_the_shipped_fsdp_config_is_an_accelerate_config(repo_root):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(repo_root / "configs" / "accelerate-fsdp.yaml"))
    assert config.distributed_type.name == "FSDP" and config.num_processes == 4
    assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # one whole checkpoint for vLLM
