"""The embedded tiny model: tokenizer, fresh causal LM, save/load, and that it trains."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from proofloop.errors import ConfigError, ProofloopError
from proofloop.tinymodel import SIZES, init_model, train_tokenizer
from sygus_texts import MAX2 as SHARED_MAX2

CORPUS = [
    "(set-logic LIA)\n(synth-fun max2 ((x Int) (y Int)) Int)\n(constraint (>= (max2 x y) x))\n(check-synth)",
    "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))",
    "(set-logic LIA)\n(synth-inv inv-f ((x Int) (n Int)))\n(inv-constraint inv-f pre-f trans-f post-f)",
    "(define-fun inv-f ((x Int) (n Int)) Bool (>= x 0))",
] * 8

EXAMPLES = [
    ("(synth-fun max2 ((x Int) (y Int)) Int)", "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))"),
    ("(synth-inv inv-f ((x Int) (n Int)))", "(define-fun inv-f ((x Int) (n Int)) Bool (>= x 0))"),
    ("(synth-fun inc ((x Int)) Int)", "(define-fun inc ((x Int)) Int (+ x 1))"),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return init_model(tmp_path_factory.mktemp("tiny") / "model", CORPUS, seed=0)


def test_saved_model_loads_unchanged_with_transformers(model_dir):
    assert {p.name for p in model_dir.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    assert tok.padding_side == "left"
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<bos>", "<eos>", "<pad>")
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    assert model.config.vocab_size == len(tok)
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (
        tok.bos_token_id,
        tok.eos_token_id,
        tok.pad_token_id,
    )
    assert 1_000_000 < sum(p.numel() for p in model.parameters()) < 10_000_000


def test_tokenizer_prepends_bos_and_round_trips_any_text(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    text = "(define-fun f ((x Int)) Int (ite (>= x 0) x (- x)))  ; ünïcode ∀ ✓\n\t"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    # BPE learned the corpus: a frequent phrase takes far fewer tokens than bytes.
    assert len(tok("(define-fun max2 ((x Int) (y Int)) Int", add_special_tokens=False)["input_ids"]) < 20
    batch = tok(["x", "(define-fun f"], padding=True)
    assert batch["input_ids"][0][0] == tok.pad_token_id and batch["attention_mask"][0][0] == 0


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = init_model(tmp_path / "a", CORPUS, seed=3)
    b = init_model(tmp_path / "b", CORPUS, seed=3)
    c = init_model(tmp_path / "c", CORPUS, seed=4)
    wa, wb, wc = (AutoModelForCausalLM.from_pretrained(p).state_dict() for p in (a, b, c))
    key = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(wa[key], wb[key])
    assert not torch.equal(wa[key], wc[key])
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_init_model_refuses_bad_input(tmp_path, model_dir):
    with pytest.raises(ProofloopError, match="already holds a model"):
        init_model(model_dir, CORPUS)
    with pytest.raises(ProofloopError, match="corpus is empty"):
        init_model(tmp_path / "empty", ["", "  "])
    with pytest.raises(ConfigError, match="unknown model size 'huge'; choose one of: tiny, small"):
        init_model(tmp_path / "huge", CORPUS, size="huge")
    assert not (tmp_path / "empty").exists() and not (tmp_path / "huge").exists()


def test_sizes_are_small_enough_for_a_cpu():
    tok = train_tokenizer(CORPUS, SIZES["tiny"].vocab_size)
    assert len(tok) <= SIZES["tiny"].vocab_size
    assert set(SIZES) == {"tiny", "small", "base100m"}  # base100m is the GPU preset (tests/test_gpu_smoke.py)


def test_tiny_model_trains_loss_falls_and_weights_change(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    rows = []
    for prompt, answer in EXAMPLES:
        p = tok(prompt)["input_ids"]
        a = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append((p + a, [-100] * len(p) + a))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (x, y) in enumerate(rows):
        ids[r, : len(x)], labels[r, : len(y)], mask[r, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0], losses
    assert sum(losses[-3:]) < sum(losses[:3])
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert "model.embed_tokens.weight" in changed and "model.layers.3.mlp.down_proj.weight" in changed


# --- the corpus of real problems and the init-model command ------------------------------------

MAX2 = ";; reference: (define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))\n" + SHARED_MAX2

INV = """(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool (= x 0))
(define-fun trans-f ((x Int) (x! Int)) Bool (and (< x 10) (= x! (+ x 1))))
(define-fun post-f ((x Int)) Bool (<= x 10))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
"""


@pytest.fixture
def problem_dir(tmp_path):
    d = tmp_path / "problems"
    d.mkdir()
    (d / "max2.sl").write_text(MAX2)
    (d / "count.sl").write_text(INV)
    return d


def test_default_corpus_holds_prompts_and_reference_solutions(problem_dir):
    from proofloop.problemfile import load_problems
    from proofloop.prover import get_prover
    from proofloop.tinymodel import default_corpus

    problems = load_problems(problem_dir)
    corpus = default_corpus(problems)
    z3 = get_prover("z3")
    count, max2 = sorted(problems, key=lambda p: p.id)
    assert (count.id, max2.id, count.reference) == ("count", "max2", None)
    # Every prompt; a reference solution only where the problem has one, as the model writes it.
    assert sorted(corpus) == sorted([z3.prompt(count), z3.prompt(max2), "(ite (>= x y) x y))"])
    assert max2.reference == "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))"
    assert not any("reference:" in text for text in corpus)  # prompts never leak the solution


def test_init_model_command_writes_a_loadable_model(problem_dir, tmp_path):
    from typer.testing import CliRunner

    from proofloop.cli import app

    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["init-model", str(out), "--problems", str(problem_dir), "--seed", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"model: {out}" and lines[1] == "size: tiny"
    assert lines[2].startswith("parameters: ") and 1_000_000 < int(lines[2].split()[1]) < 10_000_000
    assert lines[3] == f"vocab: {len(AutoTokenizer.from_pretrained(out))}" and lines[4] == "corpus_problems: 2"
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == int(lines[3].split()[1])

    again = CliRunner().invoke(app, ["init-model", str(out), "--problems", str(problem_dir)])
    assert (
        again.exit_code == 2
        and again.stderr.strip() == f"error: {out}: already holds a model (config.json); choose an empty directory"
    )
    missing = CliRunner().invoke(app, ["init-model", str(tmp_path / "n"), "--problems", str(tmp_path / "nope")])
    assert (
        missing.exit_code == 2
        and missing.stderr.startswith("error: ")
        and "no such file or directory" in missing.stderr
    )
    bad_size = CliRunner().invoke(app, ["init-model", str(tmp_path / "n"), "--size", "huge"])
    assert bad_size.exit_code == 2 and "choose one of: tiny, small" in bad_size.output
