"""The OpenAI-compatible transport against a local HTTP server: answers, retries, errors, limits."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from proofloop.generate import GeneratorConfig, GeneratorError, SamplingParams, make_generator
from proofloop.generate.openai import OpenAIGenerator

PATH = "/v1/completions"


@pytest.fixture(scope="module")
def _running_server():
    srv = HTTPServer(threaded=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_running_server):
    yield _running_server
    _running_server.clear()


def _choices(n: int, tag: str = "c") -> list[dict]:
    return [
        {
            "index": i,
            "text": f" {tag}{i})",
            "finish_reason": "stop",
            "logprobs": {"tokens": [" a", "b", ")"], "token_logprobs": [-0.5, -0.25, -0.125 * (i + 1)]},
        }
        for i in range(n)
    ]


def _ok(request: Request) -> Response:
    body = request.get_json()
    return Response(json.dumps({"choices": _choices(body["n"], body["prompt"][:1])}), content_type="application/json")


def _requests_for(server: HTTPServer, prompt: str) -> list[Request]:
    """The logged requests for `prompt`. The server logs a request after answering it, so one
    from an earlier test can land in the log after that test's cleanup: never read log[0]."""
    return [request for request, _ in server.log if request.get_json().get("prompt") == prompt]


def _gen(server: HTTPServer, sleeps: list[float] | None = None, **kwargs) -> OpenAIGenerator:
    kwargs.setdefault("max_retries", 3)
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return OpenAIGenerator(server.url_for("/v1"), "tiny", sleep=sleep, **kwargs)


def test_completions_log_probs_and_request_fields(server):
    server.expect_request(PATH, method="POST").respond_with_handler(_ok)
    out = _gen(server, api_key="sk-test").generate(
        ["p1", "q2"], 3, SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=17, stop=("\n\n",), seed=5)
    )
    assert [[c.text for c in cs] for cs in out] == [[" p0)", " p1)", " p2)"], [" q0)", " q1)", " q2)"]]
    assert [c.num_tokens for c in out[0]] == [3, 3, 3]
    assert [c.logprob for c in out[0]] == [-0.875, -1.0, -1.125]
    (request,) = _requests_for(server, "p1")
    body = request.get_json()
    assert body == {
        "model": "tiny",
        "prompt": body["prompt"],
        "n": 3,
        "max_tokens": 17,
        "temperature": 0.7,
        "top_p": 0.9,
        "logprobs": 1,
        "stop": ["\n\n"],
        "seed": 5,
    }
    assert request.headers["Authorization"] == "Bearer sk-test"


def test_no_key_no_header_and_no_seed_no_seed_field(server):
    server.expect_request(PATH).respond_with_handler(_ok)
    _gen(server).generate(["no key"], 1, SamplingParams())
    (request,) = _requests_for(server, "no key")
    assert "Authorization" not in request.headers
    assert "seed" not in request.get_json() and "stop" not in request.get_json()


def test_server_that_caps_n_is_asked_again_with_fresh_seeds(server):
    def one_choice(request: Request) -> Response:
        seed = request.get_json()["seed"]
        return Response(json.dumps({"choices": _choices(1, f"s{seed}-")}), content_type="application/json")

    server.expect_request(PATH).respond_with_handler(one_choice)
    out = _gen(server).generate(["short"], 3, SamplingParams(seed=10))
    assert [c.text for c in out[0]] == [" s10-0)", " s11-0)", " s12-0)"]
    assert [r.get_json()["n"] for r in _requests_for(server, "short")] == [3, 2, 1]


def test_max_n_per_request_splits_the_samples(server):
    server.expect_request(PATH).respond_with_handler(_ok)
    out = _gen(server, max_n_per_request=2).generate(["split"], 5, SamplingParams(seed=0))
    assert len(out[0]) == 5
    requests = _requests_for(server, "split")
    assert [r.get_json()["n"] for r in requests] == [2, 2, 1]
    assert [r.get_json()["seed"] for r in requests] == [0, 1, 2]


def test_429_then_success_is_retried_after_backoff(server):
    calls = []

    def flaky(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return Response(json.dumps({"error": {"message": "slow down"}}), status=429, headers={"Retry-After": "2"})
        return _ok(request)

    server.expect_request(PATH).respond_with_handler(flaky)
    sleeps: list[float] = []
    out = _gen(server, sleeps).generate(["p"], 2, SamplingParams())
    assert len(out[0]) == 2 and len(calls) == 2
    assert sleeps == [2.0]  # Retry-After outweighs the first backoff step


def test_500_until_retries_run_out_is_an_error_naming_the_last_failure(server):
    server.expect_request(PATH).respond_with_json({"error": {"message": "engine dead"}}, status=500)
    sleeps: list[float] = []
    gen = _gen(server, sleeps, max_retries=2, backoff_s=1.0)
    with pytest.raises(GeneratorError, match=r"gave up after 3 attempts; last: HTTP 500: engine dead"):
        gen.generate(["dead"], 1, SamplingParams())
    assert len(_requests_for(server, "dead")) == 3
    # Exponential with jitter: attempt k waits between half and all of 1s * 2**(k-1).
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_400_is_a_clear_error_with_the_servers_message_and_no_retry(server):
    server.expect_request(PATH).respond_with_json(
        {"error": {"message": "n must be at most 1", "type": "invalid_request_error"}}, status=400
    )
    with pytest.raises(GeneratorError) as e:
        _gen(server).generate(["refused"], 4, SamplingParams())
    message = str(e.value)
    assert "refused the request (HTTP 400): n must be at most 1" in message
    assert "set generator.max_n_per_request" in message and "\n" not in message
    assert len(_requests_for(server, "refused")) == 1


def test_401_points_at_the_api_key(server):
    server.expect_request(PATH).respond_with_data("Unauthorized", status=401)
    with pytest.raises(GeneratorError, match=r"HTTP 401\): Unauthorized; check the API key"):
        _gen(server).generate(["p"], 1, SamplingParams())


def test_timeout_is_retried_then_reported(server):
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return _ok(request)

    server.expect_request(PATH).respond_with_handler(slow)
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(GeneratorError, match=r"gave up after 2 attempts; last: timed out after 0.2s"):
        _gen(server, sleeps, max_retries=1, timeout_s=0.2).generate(["p"], 1, SamplingParams())
    assert time.monotonic() - started < 1.5
    assert len(sleeps) == 1


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again once the block ends: nothing listens there
    sleeps: list[float] = []
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "tiny", max_retries=2, sleep=sleeps.append)
    with pytest.raises(GeneratorError, match="gave up after 3 attempts; last: connection failed"):
        gen.generate(["p"], 1, SamplingParams())
    assert len(sleeps) == 2


def test_non_json_answer_is_an_error(server):
    server.expect_request(PATH).respond_with_data("<html>proxy</html>", status=200)
    with pytest.raises(GeneratorError, match="non-JSON"):
        _gen(server).generate(["p"], 1, SamplingParams())


def test_concurrency_limit_bounds_requests_in_flight(server):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def tracked(request: Request) -> Response:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return _ok(request)

    server.expect_request(PATH).respond_with_handler(tracked)
    prompts = [f"p{i}" for i in range(8)]
    out = _gen(server, concurrency=3).generate(prompts, 1, SamplingParams())
    assert [cs[0].text for cs in out] == [" p0)"] * 8  # answers come back in prompt order
    assert state["max"] == 3


def test_make_generator_reads_the_key_from_the_named_variable(server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-env")
    server.expect_request(PATH).respond_with_handler(_ok)
    cfg = GeneratorConfig(backend="openai", model="tiny", base_url=server.url_for("/v1"), api_key_env="MY_KEY")
    gen = make_generator(cfg)
    assert isinstance(gen, OpenAIGenerator) and gen.name == "openai"
    assert gen.generate(["key test"], 1, SamplingParams())[0][0].text == " k0)"
    (request,) = _requests_for(server, "key test")
    assert request.headers["Authorization"] == "Bearer sk-env"


def test_server_without_logprobs_still_gives_completions(server):
    server.expect_request(PATH).respond_with_json({"choices": [{"index": 0, "text": " (+ x 1))", "logprobs": None}]})
    (c,) = _gen(server).generate(["p"], 1, SamplingParams())[0]
    assert (c.text, c.logprob, c.num_tokens) == (" (+ x 1))", 0.0, 3)


def test_multi_line_server_errors_become_one_line(server):
    server.expect_request(PATH).respond_with_data("bad request:\n  field 'prompt'\n  is too long", status=422)
    with pytest.raises(GeneratorError) as e:
        _gen(server).generate(["p"], 1, SamplingParams())
    assert str(e.value).endswith("(HTTP 422): bad request: field 'prompt' is too long")
