"""SFT on (prompt, candidate) pairs: the loss covers the candidate only, weights change, loss falls."""

from __future__ import annotations

import pytest

from proofloop.tinymodel import init_model
from proofloop.train import (
    IGNORE, TrainingDiverged, TrainSettings, encode_example, load_result, pretrain_lm, train_sft,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = [f"(synth-fun f ((x Int)) Int) ; f({i}) = {i + 2}\n" for i in range(12)]
EXAMPLES = [(p, "(define-fun f ((x Int)) Int (+ x 2))") for p in PROMPTS]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "base"
    return init_model(out, PROMPTS + [c for _, c in EXAMPLES] * 3, size="tiny", seed=0)


@pytest.fixture(scope="module")
def tokenizer(base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base)


def test_encode_masks_the_prompt_and_ends_with_eos(tokenizer):
    ids, labels = encode_example(tokenizer, "(synth-fun f)\n", "(+ x 2)", max_seq_len=64)
    prompt = tokenizer("(synth-fun f)\n")["input_ids"]
    answer = tokenizer("(+ x 2)", add_special_tokens=False)["input_ids"]
    assert ids == prompt + answer + [tokenizer.eos_token_id]
    assert labels == [IGNORE] * len(prompt) + answer + [tokenizer.eos_token_id]


def test_encode_truncates_the_prompt_from_the_left_keeping_bos(tokenizer):
    long_prompt = " ".join(f"(c{i})" for i in range(200))
    ids, labels = encode_example(tokenizer, long_prompt, "(+ x 2)", max_seq_len=32)
    answer = tokenizer("(+ x 2)", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert len(ids) == 32 and ids[0] == tokenizer.bos_token_id and ids[-len(answer):] == answer
    assert labels[: 32 - len(answer)] == [IGNORE] * (32 - len(answer))
    assert tokenizer.decode(ids[1 : 32 - len(answer)]).endswith("(c199)")


def test_sft_changes_weights_and_lowers_the_loss(base, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "round-0"
    steps = []
    result = train_sft(
        base, EXAMPLES, out, TrainSettings(epochs=6, lr=3e-3, batch_size=4, warmup=2, seed=0),
        progress=lambda step, total, loss: steps.append((step, total)),
    )
    assert result.steps == 18 and steps[-1] == (18, 18) and result.examples == 12 and result.tokens > 0
    assert result.loss_last < 0.5 * result.loss_first
    before = AutoModelForCausalLM.from_pretrained(base).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2
    assert load_result(out) == result
    assert not out.with_name("round-0.tmp").exists()
    assert load_result(tmp_path / "missing") is None


def test_max_steps_caps_training(base, tmp_path):
    result = train_sft(base, EXAMPLES, tmp_path / "ck", TrainSettings(epochs=10, batch_size=4, max_steps=3))
    assert result.steps == 3


def test_nan_loss_stops_with_a_clear_error(base, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"^train: loss is (nan|inf) at step \d+/\d+ \(lr=1e\+30\); lower train.lr$"):
        train_sft(base, EXAMPLES, tmp_path / "ck", TrainSettings(epochs=20, batch_size=4, lr=1e30, warmup=0))
    assert not (tmp_path / "ck").exists()


def test_pretraining_learns_every_token_of_the_texts_and_no_eos(base, tokenizer, tmp_path):
    ids, labels = encode_example(tokenizer, "", PROMPTS[0], max_seq_len=64, eos=False)
    assert ids == tokenizer(PROMPTS[0])["input_ids"] and ids[0] == tokenizer.bos_token_id
    assert labels == [IGNORE] + ids[1:]  # everything but <bos>, and no <eos> after the text
    result = pretrain_lm(base, PROMPTS, tmp_path / "pre", TrainSettings(epochs=6, lr=3e-3, batch_size=4, warmup=2))
    assert result.steps == 18 and result.loss_last < 0.5 * result.loss_first
    with pytest.raises(Exception, match="no texts"):
        pretrain_lm(base, [], tmp_path / "none", TrainSettings())


def test_no_examples_is_an_error(base, tmp_path):
    with pytest.raises(Exception, match="no training examples"):
        train_sft(base, [], tmp_path / "ck", TrainSettings())
