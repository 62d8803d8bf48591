"""The rules version: which modules it covers, and that it moves with their code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from proofloop.rules import imports, rules_modules, rules_version

REPO = Path(__file__).resolve().parents[1]


def test_the_z3_rules_cover_the_modules_that_decide_verdicts():
    covered = set(rules_modules("provers.z3.checker"))
    assert {"provers.z3.checker", "provers.z3.session", "provers.z3.candidate", "provers.z3.sexpr",
            "provers.z3.sygus", "provers.z3.terms", "provers.z3.grammar", "provers.z3.cvc5check"} <= covered
    assert "provers.z3.sampler" not in covered  # drawing candidates is not judging them


def test_the_lean_rules_cover_guards_lexer_and_verdict_reading():
    covered = set(rules_modules("provers.lean.prover", "provers.lean.guards", "provers.lean.filecheck"))
    assert {"provers.lean.lexer", "provers.lean.guards", "provers.lean.checker", "provers.lean.protocol",
            "provers.lean.source", "provers.lean.filecheck"} <= covered


@pytest.mark.parametrize("path", sorted((REPO / "provers").rglob("*.py")) + sorted((REPO / "proofloop").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_import_scan_finds_every_import_the_parser_finds(path):
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    package = name.removesuffix(".__init__") if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    expected = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            expected |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{parent}.{module}" if module else parent
            expected |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    assert expected <= set(imports(path.read_text(encoding="utf-8"), package))


def test_the_version_moves_with_any_imported_module(tmp_path, monkeypatch):
    pkg = tmp_path / "rulespkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "judge.py").write_text("from rulespkg.parse import read\nimport os\n\ndef judge(x):\n    return read(x)\n")
    (pkg / "parse.py").write_text("def read(x):\n    return x\n")
    (pkg / "unrelated.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = rules_version("rulespkg.judge")
    assert set(rules_modules("rulespkg.judge")) == {"rulespkg.judge", "rulespkg.parse"}
    (pkg / "unrelated.py").write_text("X = 2\n")
    rules_version.cache_clear()
    assert rules_version("rulespkg.judge") == before
    (pkg / "parse.py").write_text("def read(x):\n    return not x\n")
    rules_version.cache_clear()
    assert rules_version("rulespkg.judge") != before
