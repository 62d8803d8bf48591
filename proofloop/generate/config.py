"""GeneratorConfig: the `[generator]` section of a run config, one frozen pydantic model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["hf", "vllm", "openai", "grammar"]


class GeneratorConfig(BaseModel):
    """Which backend drafts candidates, and how it is set up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Backend = Field(
        "hf",
        description="hf: transformers in this process; vllm: the vLLM offline engine (GPU); "
        "openai: any OpenAI-compatible /v1/completions server; grammar: random derivations "
        "from the problem's grammar (the round-0 policy and baseline).",
    )
    model: str | None = Field(
        None,
        description="A Hugging Face model id or a local directory written by save_pretrained "
        "(for openai: the model name the server serves). Unset: the embedded tiny model.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the hf backend runs; auto picks cuda when a GPU is visible."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto is float32 on CPU and bfloat16 (or float16) on GPU."
    )
    batch_size: int = Field(64, ge=1, description="hf: sequences (prompts x samples) generated together in one batch.")
    replicas: int = Field(
        1, ge=1, description="hf/vllm: engine replicas as Ray actors (one GPU or tensor-parallel group each); "
        "prompts are sharded across them. 1: the engine runs in this process.",
    )
    # openai
    base_url: str | None = Field(None, description="openai: the server's API root, e.g. http://localhost:8000/v1.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="openai: environment variable holding the API key (may be unset)."
    )
    concurrency: int = Field(8, ge=1, description="openai: requests in flight at once.")
    max_retries: int = Field(5, ge=0, description="openai: retries on 429, 5xx, timeouts and connection errors.")
    request_timeout_s: float = Field(120.0, gt=0, description="openai: seconds allowed per request.")
    max_n_per_request: int | None = Field(
        None, ge=1, description="openai: most samples asked for in one request (for servers that cap n)."
    )
    # vllm
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs one model is split across.")
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="vllm: fraction of GPU memory the engine may take."
    )
    max_model_len: int | None = Field(
        None, ge=1, description="vllm: context length (prompt + completion); unset: the model's own."
    )
    # grammar
    max_size: int = Field(
        16, ge=1, description="grammar: size budget of a derivation (grammar symbols); smaller terms are likelier."
    )

    @model_validator(mode="after")
    def _backend_needs(self) -> "GeneratorConfig":
        if self.backend == "openai":
            if not self.base_url:
                raise ValueError(
                    "backend 'openai' needs base_url (the server's API root, e.g. "
                    'base_url = "http://localhost:8000/v1")'
                )
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"base_url {self.base_url!r} must start with http:// or https://")
            if not self.model:
                raise ValueError("backend 'openai' needs model: the model name the server serves")
        if self.replicas > 1 and self.backend not in ("hf", "vllm"):
            raise ValueError(f"replicas = {self.replicas}: only the hf and vllm backends run as replicas")
        if self.backend == "vllm" and self.device == "cpu":
            raise ValueError(
                'backend \'vllm\' runs on a GPU; set device = "auto" or "cuda", or use backend = "hf" on CPU'
            )
        if self.device == "cpu" and self.dtype == "float16":
            raise ValueError(
                "dtype 'float16' on device 'cpu' runs slowly and loses precision in CPU kernels; "
                'use dtype = "float32" (or "auto"), or device = "cuda"'
            )
        return self
