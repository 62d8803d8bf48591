"""The grammar generator: prompt -> problem mapping and seeding (fake prover), and that every
sample of the Z3 grammar sampler passes the Z3 checker's front end (parse, signature, scope,
logic, grammar) on the bundled problems and the shared SyGuS-Comp benchmarks."""

from __future__ import annotations

import random

import pytest

from proofloop.errors import ConfigError
from proofloop.generate import GeneratorConfig, GeneratorError, SamplingParams, Scorer, make_generator
from proofloop.generate.grammar import GrammarGenerator, rough_tokens
from proofloop.prover import Prover
from proofloop.types import Problem

FRONT_END_REASONS = {"parse", "signature", "scope", "logic", "grammar", "encoding", "command", "too-large", "too-deep"}


class FakeProver(Prover):
    """Prompts are the problem text; samples name the problem and the draws of its rng."""

    name = "fake"
    can_sample = True

    def __init__(self, empty: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.empty = empty

    def prompt(self, problem: Problem) -> str:
        return f"PROMPT {problem.text}"

    def sample(self, problem: Problem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
        self.calls.append((problem.id, n, max_size))
        if problem.id in self.empty:
            return []
        return [f"(define-fun {problem.id} () Int {rng.randrange(10**6)})" for _ in range(n)]


def _problems(*ids: str) -> list[Problem]:
    return [Problem(id=i, prover="fake", text=f"text of {i}") for i in ids]


def test_prompts_map_back_to_their_problems_in_order():
    prover = FakeProver()
    gen = GrammarGenerator(prover, _problems("a", "b", "c"), max_size=7)
    out = gen.generate(["PROMPT text of c", "PROMPT text of a"], 3, SamplingParams(seed=1))
    assert [len(cs) for cs in out] == [3, 3]
    assert all(c.text.startswith("(define-fun c ") for c in out[0])
    assert all(c.text.startswith("(define-fun a ") for c in out[1])
    assert prover.calls == [("c", 3, 7), ("a", 3, 7)]
    assert all(c.logprob == 0.0 and c.num_tokens == 8 for cs in out for c in cs)
    assert not isinstance(gen, Scorer)  # it has no model to score with: the loop leaves the NLL out


def test_seed_reproduces_per_problem_whatever_the_batch():
    gen = GrammarGenerator(FakeProver(), _problems("a", "b"))
    params = SamplingParams(seed=4)
    both = gen.generate(["PROMPT text of a", "PROMPT text of b"], 4, params)
    alone = gen.generate(["PROMPT text of b"], 4, params)
    assert alone[0] == both[1]
    other = gen.generate(["PROMPT text of b"], 4, SamplingParams(seed=5))
    assert [c.text for c in other[0]] != [c.text for c in alone[0]]
    unseeded = [gen.generate(["PROMPT text of a"], 4, SamplingParams())[0] for _ in range(2)]
    assert unseeded[0] != unseeded[1]


def test_unknown_prompt_and_sampler_without_terms():
    gen = GrammarGenerator(FakeProver(empty=("b",)), _problems("a", "b"))
    with pytest.raises(GeneratorError, match="prompt 1 is not the prompt of any of the 2 problems"):
        gen.generate(["PROMPT text of a", "something else"], 1, SamplingParams())
    # A grammar with no finite term still yields n (empty, hence failing) drafts.
    assert [c.text for c in gen.generate(["PROMPT text of b"], 2, SamplingParams())[0]] == ["", ""]


def test_prover_without_a_sampler_is_a_config_error():
    class NoSampler(Prover):
        name = "lean"

        def prompt(self, problem: Problem) -> str:
            return problem.text

    with pytest.raises(ConfigError, match="prover 'lean' has no grammar sampler"):
        GrammarGenerator(NoSampler(), _problems("a"))
    with pytest.raises(ConfigError, match="needs the prover and the problems"):
        make_generator(GeneratorConfig(backend="grammar"))


def test_rough_tokens_counts_parens_and_atoms():
    assert rough_tokens("(define-fun f ((x Int)) Int (+ x 1))") == 16
    assert rough_tokens("") == 0


# --- the real sampler against the real checker -------------------------------------------------


@pytest.fixture(scope="module")
def z3():
    from proofloop.prover import get_prover

    return get_prover("z3")


@pytest.fixture(scope="module")
def bundled(z3):
    from proofloop.problemfile import bundled_problems_dir, load_problems

    return load_problems(bundled_problems_dir(), prover="z3")


def _front_end_failures(z3, problems, completions_per_problem):
    from provers.z3.candidate import Rejection
    from provers.z3.checker import compiled_for, front_end

    failures = []
    for problem, completions in zip(problems, completions_per_problem):
        compiled = compiled_for(problem)
        for c in completions:
            try:
                front_end(compiled, z3.extract(c.text))
            except Rejection as r:
                failures.append((problem.id, r.reason, r.message, c.text))
    return failures


def test_every_sample_of_every_bundled_problem_passes_the_front_end(z3, bundled):
    gen = make_generator(GeneratorConfig(backend="grammar"), prover=z3, problems=bundled)
    out = gen.generate([z3.prompt(p) for p in bundled], 4, SamplingParams(seed=0))
    assert all(len(cs) == 4 and all(c.text for c in cs) for cs in out)
    assert _front_end_failures(z3, bundled, out) == []
    with_grammar = [p for p in bundled if any(f.grammar is not None for f in p.data.synth_funs)]
    assert with_grammar  # the grammar test itself is exercised, not only the default grammars


def test_full_check_never_rejects_a_sample_for_its_form_but_rejects_an_off_grammar_term(z3, bundled):
    chosen = [p for p in bundled if "grammar" in p.id][:3] + bundled[:: max(1, len(bundled) // 6)][:6]
    gen = GrammarGenerator(z3, chosen, max_size=10)
    out = gen.generate([z3.prompt(p) for p in chosen], 3, SamplingParams(seed=2))
    for problem, completions in zip(chosen, out):
        for c in completions:
            verdict = z3.check(problem, z3.extract(c.text))
            assert verdict.reason not in FRONT_END_REASONS, (problem.id, c.text, verdict.message)
    absg = next(p for p in bundled if p.id.endswith("absval_grammar"))
    # `+` is not in absg's grammar; the same check rejects it for that reason.
    verdict = z3.check(absg, "(define-fun absg ((x Int)) Int (ite (>= x 0) x (+ x (- x) (- x))))")
    assert verdict.reason == "grammar"


@pytest.mark.shared
def test_samples_for_shared_sygus_comp_benchmarks_pass_the_front_end(z3, shared_benchmarks):
    files = sorted(shared_benchmarks.rglob("*.sl"))[::12]
    problems = [z3.load(f)[0] for f in files]
    gen = GrammarGenerator(z3, problems)
    out = gen.generate([z3.prompt(p) for p in problems], 2, SamplingParams(seed=0))
    assert len(problems) > 50
    assert _front_end_failures(z3, problems, out) == []
