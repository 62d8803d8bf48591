"""The transformers backend on the embedded tiny model: sampling, seeds, stops, log-probs, padding."""

from __future__ import annotations

import math

import pytest
import torch

from proofloop.errors import ConfigError
from proofloop.generate import GeneratorConfig, GeneratorError, SamplingParams, Scorer, make_generator
from proofloop.generate.hf import HFGenerator
from proofloop.tinymodel import build_model, init_model

CORPUS = [
    "(set-logic LIA)\n(synth-fun max2 ((x Int) (y Int)) Int)\n(declare-var x Int)\n(declare-var y Int)\n"
    "(constraint (>= (max2 x y) x))\n(constraint (>= (max2 x y) y))\n(check-synth)",
    "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))",
    "(set-logic LIA)\n(synth-inv inv-f ((x Int) (n Int)))\n(inv-constraint inv-f pre-f trans-f post-f)",
    "(define-fun inv-f ((x Int) (n Int)) Bool (>= x 0))",
] * 8

PROMPTS = ["(synth-fun f ((x Int)) Int", "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y)) ;", "x"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return init_model(tmp_path_factory.mktemp("tiny") / "model", CORPUS, size="tiny", seed=0)


@pytest.fixture(scope="session")
def gen(tiny_dir) -> HFGenerator:
    return HFGenerator.load(str(tiny_dir), device="cpu", batch_size=16)


def _texts(out):
    return [[c.text for c in cs] for cs in out]


def test_make_generator_builds_hf_from_config(tiny_dir):
    g = make_generator(GeneratorConfig(backend="hf", model=str(tiny_dir), device="cpu", batch_size=4))
    assert isinstance(g, HFGenerator) and g.name == "hf" and g.batch_size == 4
    assert g.model.dtype == torch.float32 and g.tokenizer.padding_side == "left"


def test_n_distinct_completions_at_temperature_1(gen):
    out = gen.generate(PROMPTS[:2], 6, SamplingParams(temperature=1.0, max_new_tokens=12, seed=0))
    assert [len(cs) for cs in out] == [6, 6]
    for cs in out:
        assert len({c.text for c in cs}) == 6
        assert all(c.num_tokens == len(c.token_ids) and 1 <= c.num_tokens <= 12 for c in cs)
    # Greedy decoding has nothing to vary: every sample of a prompt is the same.
    greedy = gen.generate(PROMPTS[:2], 3, SamplingParams(temperature=0, max_new_tokens=12))
    assert all(len({c.text for c in cs}) == 1 for cs in greedy)


def test_fixed_seed_reproduces_and_other_seed_differs(gen):
    params = SamplingParams(temperature=1.0, max_new_tokens=10, seed=7)
    first = gen.generate(PROMPTS, 3, params)
    assert gen.generate(PROMPTS, 3, params) == first
    other = gen.generate(PROMPTS, 3, SamplingParams(temperature=1.0, max_new_tokens=10, seed=8))
    assert _texts(other) != _texts(first)


def test_seeded_request_leaves_the_callers_rng_alone(gen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    gen.generate(PROMPTS[:1], 2, SamplingParams(max_new_tokens=4, seed=5))
    assert torch.equal(torch.rand(3), expected)


def test_stop_string_cuts_output_at_its_first_occurrence(gen):
    params = SamplingParams(temperature=1.0, max_new_tokens=24, seed=11)
    free = gen.generate(PROMPTS[:1], 4, params)[0]
    # A stop string taken from inside the first completion: printable, not in its first 3 characters.
    text = free[0].text
    pos = next(
        i for i in range(3, len(text)) if text[i].isascii() and text[i].isprintable() and text[i] not in text[:i]
    )
    stop = text[pos]
    stopped = gen.generate(PROMPTS[:1], 4, SamplingParams(temperature=1.0, max_new_tokens=24, seed=11, stop=(stop,)))[0]
    for before, after in zip(free, stopped):
        if stop in before.text:
            assert after.text == before.text[: before.text.index(stop)]
            assert after.num_tokens < before.num_tokens
            assert after.token_ids == before.token_ids[: after.num_tokens]
            # The stop string is completed by the last counted token, not earlier.
            assert stop in gen.tokenizer.decode(list(after.token_ids))
            assert stop not in gen.tokenizer.decode(list(after.token_ids[:-1]))
        else:
            assert after == before
    assert stopped[0].text == text[:pos]
    # A stop string that never occurs changes nothing.
    never = gen.generate(
        PROMPTS[:1], 4, SamplingParams(temperature=1.0, max_new_tokens=24, seed=11, stop=("\x00\x01",))
    )
    assert never[0] == free


def test_logprob_is_the_models_own_score_of_the_tokens(gen):
    for params in (
        SamplingParams(temperature=1.0, max_new_tokens=12, seed=3),
        # Temperature and top-p shape sampling only; the recorded log-probs stay the model's own.
        SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=12, seed=3),
    ):
        out = gen.generate(PROMPTS, 3, params)
        flat = [(p, c) for p, cs in zip(PROMPTS, out) for c in cs]
        scores = gen.score_ids([p for p, _ in flat], [c.token_ids for _, c in flat])
        for score, (_, c) in zip(scores, flat):
            assert math.isfinite(c.logprob) and c.logprob < 0
            assert c.logprob == pytest.approx(score, rel=1e-4, abs=1e-3)
    # The same tokens after another prompt score differently: the prompt is conditioned on.
    c = out[0][0]
    assert gen.score_ids([PROMPTS[2]], [c.token_ids])[0] != pytest.approx(c.logprob, abs=1e-3)


def _char_tokenizer():
    """A byte-level tokenizer with one token per character of the (ASCII) corpus and no merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = sorted(set("".join(CORPUS)))
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + 3, special_tokens=["<pad>", "<bos>", "<eos>"], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", padding_side="left"
    )


def test_score_of_text_equals_logprob_when_tokenization_is_unique():
    # With one token per character, every sampled text maps back to exactly the tokens that
    # were sampled, so scoring the text scores them.
    tokenizer = _char_tokenizer()
    g = HFGenerator(build_model(tokenizer, "tiny", seed=1), tokenizer, batch_size=8)
    out = g.generate(PROMPTS[:2], 8, SamplingParams(temperature=1.0, max_new_tokens=8, seed=0))
    pairs = [
        (p, c)
        for p, cs in zip(PROMPTS, out)
        for c in cs
        # samples that drew <pad>/<bos> mid-text (dropped when decoding) do not round-trip
        if tokenizer(c.text, add_special_tokens=False)["input_ids"] == list(c.token_ids)
    ]
    assert len(pairs) >= 4, len(pairs)
    scores = g.score([p for p, _ in pairs], [c.text for _, c in pairs])
    for score, (_, c) in zip(scores, pairs):
        assert score == pytest.approx(c.logprob, rel=1e-4, abs=1e-3)
    prompt, c = pairs[0]
    assert g.score([prompt], [c.text + "x"])[0] < c.logprob  # one more token costs probability
    assert isinstance(g, Scorer)
    assert g.count_tokens([c.text for _, c in pairs]) == [len(c.token_ids) for _, c in pairs]


def test_left_padding_keeps_each_prompt_independent_of_the_batch(gen):
    lengths = [len(gen.tokenizer(p)["input_ids"]) for p in PROMPTS]
    assert len(set(lengths)) == len(PROMPTS)  # the batch really is padded
    params = SamplingParams(temperature=0, max_new_tokens=12)
    together = gen.generate(PROMPTS, 1, params)
    for prompt, batched in zip(PROMPTS, together):
        alone = gen.generate([prompt], 1, params)[0][0]
        assert batched[0].text == alone.text and batched[0].token_ids == alone.token_ids
        assert batched[0].logprob == pytest.approx(alone.logprob, abs=1e-3)


def test_chunks_smaller_than_n_give_the_same_shape(tiny_dir):
    g = HFGenerator.load(str(tiny_dir), device="cpu", batch_size=3)
    out = g.generate(PROMPTS, 5, SamplingParams(max_new_tokens=6, seed=0))
    assert [len(cs) for cs in out] == [5, 5, 5]
    assert g.generate([], 5, SamplingParams()) == []


def test_eos_ends_a_completion_and_is_counted(tiny_dir):
    g = HFGenerator.load(str(tiny_dir), device="cpu", batch_size=8)
    tok, model = g.tokenizer, g.model
    prompt, answer = "(synth-fun f ((x Int)) Int)", "(+ x 1)"
    p = tok(prompt)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids, labels = torch.tensor([p + a]), torch.tensor([[-100] * len(p) + a])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(30):
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    (c,) = g.generate([prompt], 1, SamplingParams(temperature=0, max_new_tokens=20))[0]
    assert c.text == answer
    assert c.num_tokens == len(a) and c.token_ids[-1] == tok.eos_token_id
    assert c.logprob == pytest.approx(g.score_ids([prompt], [a])[0], abs=1e-3)
    assert -0.5 < c.logprob < 0  # the trained answer is now nearly certain


def test_request_errors_are_one_line(gen):
    with pytest.raises(GeneratorError, match="n = 0"):
        gen.generate(PROMPTS, 0, SamplingParams())
    with pytest.raises(GeneratorError, match="temperature"):
        gen.generate(PROMPTS, 1, SamplingParams(temperature=-1))
    with pytest.raises(GeneratorError, match="empty stop string"):
        gen.generate(PROMPTS, 1, SamplingParams(stop=("",)))
    with pytest.raises(GeneratorError, match=r"prompt 0 is \d+ tokens; with max_new_tokens = 1000 it exceeds"):
        gen.generate(["x " * 100], 1, SamplingParams(max_new_tokens=1000))


def test_unknown_model_and_missing_cuda_are_config_errors(tmp_path, tiny_dir):
    with pytest.raises(ConfigError, match="no such directory") as e:
        HFGenerator.load(str(tmp_path / "missing"))
    assert "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load it as a directory written by save_pretrained") as e:
        HFGenerator.load(str(tmp_path / "empty"))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="generator.model is not set"):
        make_generator(GeneratorConfig(backend="hf"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is visible.*set device"):
            HFGenerator.load(str(tiny_dir), device="cuda")
