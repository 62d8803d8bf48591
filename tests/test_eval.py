"""`proofloop eval`: pass@k of the grammar sampler and of a tiny model, with a time budget."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.evaluate import evaluate_problems, load_eval_problems
from proofloop.executors import CheckPool
from proofloop.generate.base import Completion, SamplingParams
from proofloop.metrics import pass_at_k
from proofloop.types import CheckLimits

# Every candidate the grammar of ANYTHING derives (only `x`) satisfies it; none satisfies IMPOSSIBLE.
# (A problem every candidate satisfies whatever it is, such as (= (f x) (f x)), is refused as vacuous.)
ANYTHING = (
    "(set-logic LIA)\n(synth-fun f ((x Int)) Int ((Start Int (x))))\n(declare-var x Int)\n"
    "(constraint (= (f x) x))\n(check-synth)\n"
)
IMPOSSIBLE = (
    "(set-logic LIA)\n(synth-fun g ((x Int)) Int)\n(declare-var x Int)\n"
    "(constraint (= (g x) 0))\n(constraint (= (g x) 1))\n(check-synth)\n"
)
INC = "(set-logic LIA)\n(synth-fun inc ((x Int)) Int)\n(declare-var x Int)\n(constraint (= (inc x) (+ x 1)))\n(check-synth)\n"


@pytest.fixture
def problem_dir(tmp_path):
    d = tmp_path / "problems"
    (d / "sub").mkdir(parents=True)
    (d / "anything.sl").write_text(ANYTHING)
    (d / "sub" / "impossible.sl").write_text(IMPOSSIBLE)
    (d / "README.md").write_text("not a problem file\n")
    return d


def run_eval(*args: str):
    return CliRunner().invoke(app, ["eval", *args])


class FixedGenerator:
    """Returns the same completions for every prompt, after an optional delay per prompt."""

    name = "fixed"

    def __init__(self, texts: list[str], delay_s: float = 0.0, slow_prompt: str | None = None):
        self.texts = texts
        self.delay_s = delay_s
        self.slow_prompt = slow_prompt
        self.calls: list[tuple[int, int]] = []

    def generate(self, prompts, n, params):
        self.calls.append((len(prompts), n))
        if self.slow_prompt is None or any(self.slow_prompt in p for p in prompts):
            time.sleep(self.delay_s)
        return [[Completion(self.texts[i % len(self.texts)], 5, -1.0) for i in range(n)] for _ in prompts]


def test_grammar_eval_json(problem_dir):
    result = run_eval("--model", "grammar", "--problems", str(problem_dir), "--n", "4", "--k", "1", "--k", "4",
                      "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == "grammar" and out["n"] == 4 and out["total"] == 2
    per = {p["id"]: p for p in out["per_problem"]}
    assert set(per) == {"anything", "sub/impossible"}
    assert per["anything"]["verified"] == 4 and per["anything"]["statuses"] == {"verified": 4}
    assert per["sub/impossible"]["verified"] == 0
    assert per["sub/impossible"]["statuses"].get("rejected") == 4
    assert out["pass@1"] == pytest.approx(0.5) and out["pass@4"] == pytest.approx(0.5)
    assert out["solved"] == 1 and out["over_budget"] == [] and out["skipped"] == []


def test_grammar_eval_table_and_summary_lines(problem_dir):
    result = run_eval("--model", "grammar", "--problems", str(problem_dir), "--n", "3", "--workers", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["problem", "verified", "pass@1", "pass@3", "seconds", "note"]
    assert lines[1].split()[:4] == ["anything", "3/3", "1.000", "1.000"]
    assert lines[2].split()[:4] == ["sub/impossible", "0/3", "0.000", "0.000"]
    assert lines[3:] == ["model: grammar", "problems: 2", "solved: 1", "pass@1: 0.5000", "pass@3: 0.5000"]


def test_refused_files_are_skipped_with_a_note(problem_dir):
    (problem_dir / "broken.sl").write_text("(set-logic LIA)\n(synth-fun f ((x Int)) Int\n")
    result = run_eval("--model", "grammar", "--problems", str(problem_dir), "--n", "2", "--workers", "1")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith(f"note: skipped {problem_dir / 'broken.sl'}: ")
    assert "skipped_files: 1" in result.stdout and "problems: 2" in result.stdout


def test_only_refused_files_is_an_error(tmp_path):
    (tmp_path / "broken.sl").write_text("(synth-fun")
    result = run_eval("--model", "grammar", "--problems", str(tmp_path), "--n", "2")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"error: {tmp_path}: no problems could be loaded (1 file(s) refused)"


def test_jsonl_problem_file(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [{"id": "a/any", "prover": "z3", "text": ANYTHING}, {"id": "a/inc", "prover": "z3", "text": INC}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems, skipped = load_eval_problems(path)
    assert [p.id for p in problems] == ["a/any", "a/inc"] and skipped == []
    assert [p.id for p in load_eval_problems(path, limit=1)[0]] == ["a/any"]


def test_bad_arguments(problem_dir, tmp_path):
    result = run_eval("--model", "grammar", "--problems", str(problem_dir), "--n", "4", "--k", "8")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --k 8 is larger than --n 4; draw at least k samples per problem"
    result = run_eval("--model", "grammar", "--problems", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing'}: no such file or directory"
    result = run_eval("--model", str(tmp_path / "no-model"), "--problems", str(problem_dir), "--n", "2")
    assert result.exit_code == 2 and "no such directory" in result.stderr


def _problems(tmp_path, texts: dict[str, str]):
    for name, text in texts.items():
        (tmp_path / f"{name}.sl").write_text(text)
    problems, _ = load_eval_problems(tmp_path)
    return problems


def test_evaluate_counts_and_checks_each_distinct_candidate_once(tmp_path):
    problems = _problems(tmp_path, {"inc": INC})
    good = "(define-fun inc ((x Int)) Int (+ x 1))"
    texts = [good, good + "\n; trailing talk", "(define-fun inc ((y Int)) Int (+ y 1))", "(define-fun inc ((x Int)) Int x)", "no candidate here"]
    gen = FixedGenerator(texts)
    checked = []
    [result] = evaluate_problems(gen, problems, 10, SamplingParams(), CheckLimits(), pool=CheckPool("local", 1), on_checked=checked.append)
    assert result.n == 10 and result.verified == 6
    assert result.statuses == {"rejected": 4, "verified": 6}
    assert not result.over_budget and result.counted == 6
    # the three spellings of x + 1 share one canonical form: 3 distinct candidates, not 10 checks
    assert sum(checked) == 3
    assert gen.calls == [(1, 10)]
    assert pass_at_k(result.n, result.counted, 1) == pytest.approx(0.6)


def test_time_budget_fails_slow_problems(tmp_path):
    problems = _problems(tmp_path, {"fast": ANYTHING, "slow": INC})
    gen = FixedGenerator(["(define-fun f ((x Int)) Int x)", "(define-fun inc ((x Int)) Int (+ x 1))"],
                         delay_s=1.0, slow_prompt="inc")
    results = {r.problem_id: r for r in evaluate_problems(gen, problems, 2, SamplingParams(), CheckLimits(), budget_s=0.8, pool=CheckPool("local", 1))}
    assert not results["fast"].over_budget and results["fast"].counted == 1
    slow = results["slow"]
    assert slow.over_budget and slow.counted == 0 and slow.seconds >= 1.0
    assert slow.statuses == {"unchecked": 2}  # sampling alone used the budget: nothing was checked
    # without a budget the same problem verifies
    [again] = evaluate_problems(gen, problems[1:], 2, SamplingParams(), CheckLimits(), pool=CheckPool("local", 1))
    assert again.problem_id == "slow" and again.counted == 1 and not again.over_budget


def test_time_budget_cli_lists_failed_problems(problem_dir):
    result = run_eval("--model", "grammar", "--problems", str(problem_dir), "--n", "2", "--time-budget-s", "0.001",
                      "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "over_budget: 2" in result.stdout
    assert "over_budget_problems: anything sub/impossible" in result.stdout
    assert "pass@1: 0.0000" in result.stdout


@pytest.mark.slow
def test_tiny_model_eval(tmp_path, problem_dir):
    from proofloop.tinymodel import default_corpus, init_model

    problems, _ = load_eval_problems(problem_dir)
    corpus = default_corpus(problems) + ["(define-fun f ((x Int)) Int (+ x 1))"] * 4
    model_dir = init_model(tmp_path / "model", corpus, size="tiny", seed=0)
    result = run_eval("--model", str(model_dir), "--problems", str(problem_dir), "--n", "2", "--k", "1", "--k", "2",
                      "--max-new-tokens", "8", "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == str(model_dir) and out["total"] == 2
    for p in out["per_problem"]:
        assert p["n"] == 2 and sum(p["statuses"].values()) == 2
        assert p["verified"] == p["statuses"].get("verified", 0)
    # an untrained model writes no well-formed candidate for the impossible problem either way
    impossible = next(p for p in out["per_problem"] if p["id"] == "sub/impossible")
    assert impossible["verified"] == 0
    expected = sum(pass_at_k(2, p["verified"], 2) for p in out["per_problem"]) / 2
    assert out["pass@2"] == pytest.approx(expected)


def test_search_eval_runs_the_synthesizer_once_per_problem(problem_dir):
    result = run_eval("--model", "search", "--problems", str(problem_dir), "--time-budget-s", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == "search" and out["n"] == 1 and out["total"] == 2
    per = {p["id"]: p for p in out["per_problem"]}
    assert per["anything"]["verified"] == 1 and per["anything"]["statuses"] == {"verified": 1}
    assert per["sub/impossible"]["verified"] == 0
    assert per["sub/impossible"]["statuses"] == {"unknown:timeout": 1}
    assert per["sub/impossible"]["seconds"] < 4.0
    assert out["pass@1"] == pytest.approx(0.5) and out["solved"] == 1
