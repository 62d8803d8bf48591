"""Any OpenAI-compatible `/v1/completions` server (`vllm serve`, a hosted model) as a generator.

Requests run on a bounded thread pool (`concurrency` in flight). A request that fails with 429,
a 5xx status, a timeout or a dropped connection is retried with exponential backoff and jitter
(honouring Retry-After); any other 4xx is a GeneratorError carrying the server's own message.
`n` samples are asked for in one request; a server that returns fewer (some cap or ignore `n`)
is asked again for the rest, each time under a fresh seed so the samples stay distinct.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from proofloop.errors import ConfigError
from proofloop.generate.base import Completion, GeneratorError, SamplingParams, check_request
from proofloop.generate.config import GeneratorConfig

log = logging.getLogger(__name__)

# Overload and server-side failures are worth another try; other 4xx answers will not change.
RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))


class OpenAIGenerator:
    """Samples from a model behind an OpenAI-compatible completions endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        max_n_per_request: int | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.max_n_per_request = max_n_per_request
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._warned_no_logprobs = False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s))

    @classmethod
    def from_config(cls, cfg: GeneratorConfig) -> "OpenAIGenerator":
        """The generator a `[generator]` section with backend = "openai" describes."""
        if not cfg.base_url or not cfg.model:
            raise ConfigError("generator.backend = 'openai' needs both base_url and model")
        return cls(
            cfg.base_url,
            cfg.model,
            api_key=os.environ.get(cfg.api_key_env) or None,
            concurrency=cfg.concurrency,
            max_retries=cfg.max_retries,
            timeout_s=cfg.request_timeout_s,
            max_n_per_request=cfg.max_n_per_request,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        """n completions for each prompt, in prompt order."""
        check_request(prompts, n, params)
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            futures = [pool.submit(self._samples, prompt, n, params) for prompt in prompts]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _samples(self, prompt: str, n: int, params: SamplingParams) -> list[Completion]:
        """n completions of one prompt, in as few requests as the server allows."""
        completions: list[Completion] = []
        request = 0
        while len(completions) < n:
            want = n - len(completions)
            if self.max_n_per_request:
                want = min(want, self.max_n_per_request)
            seed = None if params.seed is None else params.seed + request
            got = self._parse(self._post(self._body(prompt, want, params, seed)))
            if not got:
                raise GeneratorError(f"openai: {self.url} returned no choices for a request with n = {want}")
            completions.extend(got[:want])
            request += 1
        return completions

    def _body(self, prompt: str, n: int, params: SamplingParams, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "n": n,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": 1,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; the parsed JSON of the first successful answer."""
        last = ""
        retry_after: float | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._backoff(attempt, retry_after)
            retry_after = None
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout_s:g}s"
            except httpx.TransportError as e:
                last = f"connection failed ({type(e).__name__}: {e})"
            else:
                if response.status_code < 400:
                    return self._json(response)
                if response.status_code not in RETRY_STATUS:
                    raise GeneratorError(self._client_error(response, body))
                last = f"HTTP {response.status_code}: {_server_message(response)}"
                retry_after = _retry_after(response)
            log.warning("openai: %s: %s (attempt %d of %d)", self.url, last, attempt + 1, self.max_retries + 1)
        raise GeneratorError(f"openai: {self.url}: gave up after {self.max_retries + 1} attempts; last: {last}")

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        # Jitter spreads the retries of many workers that failed together.
        delay = delay / 2 + self._rng.uniform(0, delay / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        self._sleep(delay)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise GeneratorError(
                f"openai: {self.url} answered {response.status_code} with non-JSON text: {response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise GeneratorError(f"openai: {self.url}: answer has no 'choices' list: {str(data)[:200]}")
        return data

    def _client_error(self, response: httpx.Response, body: dict[str, Any]) -> str:
        message = f"openai: {self.url} refused the request (HTTP {response.status_code}): {_server_message(response)}"
        if response.status_code in (401, 403):
            message += "; check the API key (generator.api_key_env names the variable that holds it)"
        elif response.status_code == 404:
            message += f"; check generator.base_url and that the server serves model {self.model!r}"
        elif body["n"] > 1 and re.search(r"\bn\b", _server_message(response)):
            message += "; if the server limits n, set generator.max_n_per_request"
        return message

    def _parse(self, data: dict[str, Any]) -> list[Completion]:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        completions = []
        for choice in choices:
            text = choice.get("text")
            if not isinstance(text, str):
                raise GeneratorError(f"openai: {self.url}: a choice has no 'text': {str(choice)[:200]}")
            logprobs = choice.get("logprobs")
            token_logprobs = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
            if token_logprobs is None:
                if not self._warned_no_logprobs:
                    log.warning("openai: %s returned no logprobs; logprob recorded as 0.0", self.url)
                    self._warned_no_logprobs = True
                completions.append(Completion(text=text, num_tokens=len(text.split()), logprob=0.0))
                continue
            values = [float(v) for v in token_logprobs if v is not None]
            completions.append(Completion(text=text, num_tokens=len(token_logprobs), logprob=sum(values)))
        return completions


def _server_message(response: httpx.Response) -> str:
    """The error message an OpenAI-style server put in its body (else the body's start), on one line."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        text = str(error["message"])
    elif isinstance(error, str):
        text = error
    elif isinstance(data, dict) and data.get("message"):
        text = str(data["message"])
    elif data is not None:
        text = str(data)
    else:
        text = response.text or response.reason_phrase
    return " ".join(text.split())[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
