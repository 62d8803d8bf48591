"""The module graph of proofloop's core: no two modules import each other, lazily or not."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / "proofloop").rglob("*.py")):
        found[".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of `known` that `name` imports anywhere (function bodies too), except under
    `if TYPE_CHECKING:`, which never runs."""
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in out & known.keys() if m != name}


def _package_of(a: str, b: str) -> bool:
    return a.startswith(b + ".") or b.startswith(a + ".")


def test_no_two_core_modules_import_each_other():
    known = _modules()
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    mutual = sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph[b] and not _package_of(a, b))
    assert mutual == []
    assert "proofloop.train" not in graph["proofloop.trainers.sft"]  # the cycles this test was written for
    assert "proofloop.executors" not in graph["proofloop.raycheck"]


def test_train_settings_are_the_train_sections_defaults_and_checks():
    import pytest

    from proofloop.config import TrainSection
    from proofloop.errors import ConfigError
    from proofloop.train import TrainSettings

    assert TrainSettings.from_section(TrainSection()) == TrainSettings()
    section = TrainSection()
    for name in ("epochs", "batch_size", "max_seq_len", "max_steps", "warmup", "lr", "trainer"):
        assert getattr(TrainSettings(), name) == getattr(section, name), name
    with pytest.raises(ConfigError, match="train.quantization"):
        TrainSettings(quantization="4bit")
    with pytest.raises(ConfigError, match="train.grad_accum"):
        TrainSettings(batch_size=8, grad_accum=3)
    with pytest.raises(ConfigError, match=r"train.batch_size: must be >= 1"):
        TrainSettings(batch_size=0)
