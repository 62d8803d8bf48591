"""`proofloop init-model OUT_DIR`: create the embedded tiny model (tokenizer + causal LM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init_model(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the model into (must not hold one).")],
    problems: Annotated[
        Path | None,
        typer.Option(
            "--problems", help="Problem file or directory for the tokenizer corpus (default: the bundled problems)."
        ),
    ] = None,
    size: Annotated[
        str, typer.Option("--size", help="Model size preset: tiny (~3.5M parameters) or small (~27M).")
    ] = "tiny",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random initialisation.")] = 0,
) -> None:
    """Train a tokenizer on the problems' prompts and solutions and create a fresh small causal LM.

    The directory is written with save_pretrained: point generator.model at it, or load it
    with transformers (AutoModelForCausalLM / AutoTokenizer) or vLLM directly.
    """
    from proofloop.problemfile import bundled_problems_dir, load_problems
    from proofloop.tinymodel import SIZES, default_corpus
    from proofloop.tinymodel import init_model as create

    if size not in SIZES:
        raise typer.BadParameter(f"{size!r}; choose one of: {', '.join(SIZES)}", param_hint="--size")
    loaded = load_problems(problems if problems is not None else bundled_problems_dir())
    path = create(out_dir, default_corpus(loaded), size=size, seed=seed)
    params, vocab = _describe(path)
    typer.echo(f"model: {path}")
    typer.echo(f"size: {size}")
    typer.echo(f"parameters: {params}")
    typer.echo(f"vocab: {vocab}")
    typer.echo(f"corpus_problems: {len(loaded)}")


def _describe(path: Path) -> tuple[int, int]:
    """Parameter count (from the saved weights) and vocabulary size of the model at `path`."""
    import json
    import math

    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return params, json.loads((path / "config.json").read_text())["vocab_size"]


def register(app: typer.Typer) -> None:
    app.command("init-model")(init_model)
