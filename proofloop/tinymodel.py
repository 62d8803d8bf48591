"""The embedded tiny model: a byte-level BPE tokenizer trained on the problem corpus and a small
Llama-style causal LM initialised from scratch, saved so that transformers and vLLM load it
unchanged from one directory.

    >>> from proofloop.tinymodel import init_model
    >>> init_model(Path("runs/x/model-0"), ["(synth-fun f ((x Int)) Int)", "(+ x 1)"])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from proofloop.errors import ConfigError, ProofloopError
from proofloop.types import Problem

log = logging.getLogger(__name__)

BOS, EOS, PAD = "<bos>", "<eos>", "<pad>"
SPECIAL_TOKENS = [PAD, BOS, EOS]


@dataclass(frozen=True)
class ModelSize:
    """The shape of one preset: vocabulary target and transformer dimensions."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int


SIZES: dict[str, ModelSize] = {
    # ~3.5M parameters: a round of sampling and SFT on 2 CPU cores takes seconds.
    "tiny": ModelSize(1536, 256, 4, 4, 768, 1024),
    # ~27M parameters: still CPU-trainable, noticeably better at memorising the corpus.
    "small": ModelSize(2048, 512, 8, 8, 1536, 2048),
    # ~100M parameters (14 layers of 7.1M): a GPU-sized from-scratch model for smoke runs and
    # vLLM, where no pretrained weights can be downloaded; slow on CPU.
    "base100m": ModelSize(4096, 768, 14, 12, 2048, 2048),
}


def default_corpus(problems: Iterable[Problem]) -> list[str]:
    """The tokenizer corpus for `problems`: each problem's prompt and its reference, as a model would write it."""
    from proofloop.prover import get_prover

    corpus: list[str] = []
    for problem in problems:
        prover = get_prover(problem.prover)
        prompt = prover.prompt(problem)
        corpus.append(prompt)
        if problem.reference:
            corpus.append(prover.target(prompt, problem.reference) or problem.reference)
    return corpus


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `corpus`, wrapped for transformers (left padding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if not any(text.strip() for text in corpus):
        raise ProofloopError("init-model: the tokenizer corpus is empty (no problems with prompts were found)")
    tok = Tokenizer(models.BPE())
    # Byte-level: every string round-trips, so no candidate is ever mapped to <unk>.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # Every encoded prompt starts with <bos>, as with Llama tokenizers, so that the first real
    # token has a context to be predicted from.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        model_max_length=SIZES["small"].max_positions,
    )


def build_model(tokenizer, size: str = "tiny", seed: int = 0):
    """A randomly initialised Llama-style causal LM sized for `tokenizer`, under `seed`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = _size(size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def init_model(out_dir: Path, corpus: list[str], *, size: str = "tiny", seed: int = 0) -> Path:
    """Train a tokenizer on `corpus`, create a fresh causal LM and save both into `out_dir`."""
    shape = _size(size)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ProofloopError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and (out_dir / "config.json").exists():
        raise ProofloopError(f"{out_dir}: already holds a model (config.json); choose an empty directory")
    tokenizer = train_tokenizer(corpus, shape.vocab_size)
    model = build_model(tokenizer, size, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("init-model: %s, %d parameters, vocab %d -> %s", size, n_params, len(tokenizer), out_dir)
    return out_dir


def _size(size: str) -> ModelSize:
    if size not in SIZES:
        raise ConfigError(f"unknown model size {size!r}; choose one of: {', '.join(SIZES)}")
    return SIZES[size]
