"""The one config object of `proofloop run`: every knob, its default and its help text.

A run's config comes from the embedded defaults, then a TOML or YAML file, then
`section.key=value` overrides; the resolved config is saved in the run directory and read
back on resume.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from proofloop.errors import ConfigError
from proofloop.generate.config import GeneratorConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


class RunSection(_Section):
    out_dir: Path = Field(Path("runs"), description="Directory that holds run directories.")
    name: str | None = Field(None, description="Run directory name under out_dir (default: <timestamp>-<shortid>).")
    seed: int = Field(0, description="Seed for sampling, selection and training.")
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads torch uses in this process for sampling and training (unset: the CPU count, "
        "at most 4; the tiny model's matrices are too small to gain from more).",
    )


class ProblemsSection(_Section):
    path: Path | None = Field(None, description="Problem file or directory (default: the bundled problems/sygus).")
    prover: str = Field("z3", description="Prover that loads and checks the problems.")
    train_limit: int | None = Field(
        None, ge=1, description="Use at most this many train problems (a seeded choice; unset: all)."
    )
    heldout_limit: int | None = Field(None, ge=1, description="Use at most this many held-out problems.")
    probe_size: int = Field(16, ge=0, description="Size of the fixed probe set of earlier-solved problems.")
    allow_overlap: bool = Field(
        False,
        description="Run even when a held-out problem has the same normal form as a train problem "
        "(variables and functions renamed, numerals kept; see `proofloop problems audit`).",
    )
    include: list[str] | None = Field(
        None,
        description="Glob patterns or subfolders, relative to path (a folder), of the files to load, e.g. "
        "[\"CLIA_Track/from_2018\", \"lia/*.sl\"] (unset: every problem file under path).",
    )
    split: Literal["files", "seeded"] = Field(
        "files",
        description="files: each file says its split (`;; split: heldout`, a JSONL row's `split`); seeded: "
        "heldout_fraction of the groups of variants of one program, by a hash of split_seed and the group, "
        "whatever the files say (docs/problems.md).",
    )
    heldout_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="seeded split: the expected fraction of held-out groups."
    )
    split_seed: int = Field(0, description="seeded split: the seed of the hash that assigns the groups.")
    skip_unreadable: bool = Field(
        False,
        description="Skip, with a warning naming each file and its reason, files the prover refuses (bad "
        "syntax, an unsupported feature, a vacuous problem) instead of stopping the run; for public "
        "benchmark folders.",
    )

    @model_validator(mode="after")
    def _split_keys_fit(self) -> "ProblemsSection":
        if self.include is not None:
            if not self.include:
                raise ValueError("include: must name at least one pattern (leave it unset for every file)")
            for pattern in self.include:
                parts = Path(pattern).parts
                if not parts or Path(pattern).is_absolute() or ".." in parts:
                    raise ValueError(
                        f"include: {pattern!r} must be a pattern below problems.path (not itself, no '..', not absolute)"
                    )
        if self.split == "files":
            for key in ("heldout_fraction", "split_seed"):
                if getattr(self, key) != type(self).model_fields[key].default:
                    raise ValueError(f"{key}: only used with split = \"seeded\" (split is \"files\")")
        return self


class SamplingSection(_Section):
    n: int = Field(8, ge=1, description="Samples per train problem per round.")
    temperature: float = Field(0.7, ge=0.0, description="Sampling temperature for train problems.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(48, ge=1, description="Most tokens per completion.")
    eval_n: int = Field(8, ge=1, description="Samples per held-out (and probe) problem when evaluating.")
    eval_temperature: float = Field(0.6, ge=0.0, description="Sampling temperature when evaluating.")
    k: int = Field(8, ge=1, description="k of the reported pass@k (at most eval_n).")
    frontier: bool = Field(
        True,
        description="Spend the train budget on the frontier: problems solved sometimes, or unsolved at most one "
        "level above the highest solved level of their family; little on those solved every time "
        "(see proofloop/curriculum.py). Off: n samples for every train problem.",
    )
    budget: int = Field(1200, ge=1, description="Train samples per round under frontier sampling.")
    mastered_share: float = Field(
        0.1, ge=0.0, le=1.0, description="Share of the budget for one sample each of problems solved every time."
    )
    retry_with_counterexample: bool = Field(
        False, description="Retry each failed train problem once with a counterexample in the prompt."
    )
    coverage_n: int = Field(
        64, ge=1, description="Samples per problem of the coverage curve: held-out pass@k for k = 1, 2, 4, ... up "
        "to this n, each round, on a fixed subset of coverage_problems held-out problems."
    )
    coverage_problems: int = Field(
        16, ge=0, description="Held-out problems in the coverage curve's fixed subset (seeded); 0: no curve."
    )

    @model_validator(mode="after")
    def _k_fits(self) -> "SamplingSection":
        if self.k > self.eval_n:
            raise ValueError(f"k: must be <= eval_n ({self.eval_n}) (got {self.k})")
        return self


class CheckerSection(_Section):
    timeout_s: float = Field(10.0, gt=0.0, description="Per-check time limit in seconds.")
    memory_mb: int = Field(2048, ge=64, description="Per-check memory limit in MiB.")
    workers: int | None = Field(None, ge=1, description="Parallel checks (default: the CPU count).")
    executor: Literal["local", "ray"] = Field("local", description="Where checks run.")
    cross_check: Literal["", "cvc5"] = Field(
        "",
        description="A second, independent checker every verdict must agree with (\"cvc5\" for the Z3 prover); "
        "a candidate one verifies and the other rejects is disputed, never verified.",
    )
    ray_address: str | None = Field(None, description="ray: the cluster to join (unset: RAY_ADDRESS, else a local one).")
    ray_num_cpus: float = Field(1.0, gt=0, description="ray: CPUs one check task reserves.")
    ray_memory_mb: int | None = Field(None, ge=1, description="ray: memory one check task reserves for scheduling.")
    ray_ship_code: bool = Field(False, description="ray: send proofloop/ and provers/ to nodes that lack them.")


class SelectSection(_Section):
    per_problem_cap: int = Field(4, ge=1, description="Most solutions per problem in a round's training set.")
    seed_fraction: float = Field(
        0.15, ge=0.0, le=1.0, description="Fraction of train problems whose reference solution is mixed in."
    )
    dedup: bool = Field(True, description="Deduplicate solutions by canonical form per problem.")
    seed_max_level: int | None = Field(
        None,
        ge=1,
        description="Seed references only from train problems at this ladder level or below (unset: any level); "
        "the levels above are left for the loop to climb.",
    )
    seed_unlock: bool = Field(
        True,
        description="Unlock the seeded references one ladder level at a time: level 1 in round 0, every level "
        "in the last round, evenly in between (see docs/curriculum.md).",
    )
    own_rows: bool = Field(
        True,
        description="Add the loop's own verified candidates to the dataset; false: references only (the "
        "ablation that shows what the loop's own rows add, benchmarks/ablation.py).",
    )
    reference_rounds: int | None = Field(
        None,
        ge=0,
        description="Add reference solutions up to this round only (0: round 0 alone, then pure expert "
        "iteration on the model's own verified rows); unset: every round.",
    )


class TrainSection(_Section):
    base_size: Literal["tiny", "small", "base100m"] = Field(
        "tiny", description="Size preset of the from-scratch base model (used when generator.model is unset)."
    )
    base_pretrain_steps: int = Field(
        150,
        ge=0,
        description="Language-model steps of the from-scratch base model on the train problems' prompts "
        "(no solutions, no held-out problems) before round 0, so that it knows the syntax; 0: none.",
    )
    from_: Literal["base", "continue"] = Field(
        "continue",
        alias="from",
        description="Fine-tune from the base model each round, or continue the policy (the default: a model "
        "that keeps its earlier skills and trains on the accumulated set forgets less as harder rows come in).",
    )
    epochs: float = Field(20.0, gt=0.0, description="Passes over the round's training set (capped by max_steps).")
    lr: float = Field(
        1e-3, gt=0.0, description="Peak learning rate (AdamW, linear decay; see docs/curriculum.md for why 1e-3)."
    )
    batch_size: int = Field(8, ge=1, description="Sequences per optimizer step.")
    max_seq_len: int = Field(256, ge=8, description="Prompt + candidate tokens kept per example.")
    max_steps: int | None = Field(600, ge=1, description="Stop after this many steps (unset: by epochs alone).")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    warmup: int = Field(10, ge=0, description="Linear warm-up steps.")
    # Device, precision, memory and LoRA: see docs/models.md ("Training") and proofloop/trainers/.
    trainer: Literal["auto", "trl", "simple"] = Field(
        "auto", description="trl: TRL's SFTTrainer; simple: a plain PyTorch loop (full fine-tuning only), "
        "kept as an independent check of the TRL path; auto: trl (docs/models.md has the measurements)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where training runs; auto: cuda when visible.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Compute precision (autocast; trainable weights stay float32); auto: float32 on CPU, "
        "bfloat16 (or float16) on GPU."
    )
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step (batch_size is split among them).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward: less memory, ~30% slower.")
    lora_r: int | None = Field(None, ge=1, description="LoRA rank (peft); unset: full fine-tuning.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    lora_target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names that get adapters, e.g. [\"q_proj\", \"v_proj\"]; all-linear: every linear layer but the head."
    )
    quantization: Literal["4bit"] | None = Field(
        None, description="4bit: QLoRA (the frozen base in NF4 via bitsandbytes, CUDA only); needs lora_r."
    )
    accelerate_config: Path | None = Field(
        None, description="An accelerate config (e.g. configs/accelerate-fsdp.yaml): training runs under "
        "`accelerate launch` on the GPUs it names (DDP or FSDP); unset: in this process, on one device."
    )
    launch_timeout_s: float = Field(86400.0, gt=0, description="Longest a launched training may run.")

    @model_validator(mode="after")
    def _trainer_fits(self) -> "TrainSection":
        from proofloop.trainers import check_train_options

        check_train_options(self)
        return self


class LoopSection(_Section):
    rounds: int = Field(3, ge=0, description="Model rounds after round 0.")
    gate_tolerance: float = Field(
        0.0,
        ge=0.0,
        description="Largest allowed drop of held-out pass@k vs the best kept round. A round is discarded when "
        "the one-sided gate_confidence upper bound of its per-problem pass@k minus the best kept round's "
        "(paired bootstrap over held-out problems) is below -gate_tolerance: a drop within the noise keeps it.",
    )
    gate_confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="Confidence of the gate's paired bootstrap test (see gate_tolerance)."
    )
    bootstrap_resamples: int = Field(1000, ge=100, description="Bootstrap resamples for the gate and the intervals.")
    conjectures: int = Field(
        0,
        ge=0,
        description="After each round, derive up to this many new train problems from solved ones by moving a "
        "constant; each is kept only if the moved solution verifies (proofloop/conjecture.py). 0: off.",
    )
    forgetting_threshold: float = Field(
        0.1, ge=0.0, le=1.0, description="Largest allowed probe forgetting rate; a round above it is discarded."
    )
    guards: list[str] = Field(
        ["forgetting", "heldout_drop", "collapse"],
        description="The gate's guards (proofloop/guards.py); a round is kept only when every one keeps it.",
    )
    collapse_ratio: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="collapse guard: discard a round when two of pass@k/pass@1, unique solutions per solved "
        "problem and token entropy fall below this fraction of the previous kept round's.",
    )

    @model_validator(mode="after")
    def _known_guards(self) -> "LoopSection":
        from proofloop.guards import GUARDS

        for name in self.guards:
            if name not in GUARDS:
                raise ValueError(f"guards: unknown guard {name!r}; known: {', '.join(GUARDS)}")
        return self


class SearchSection(_Section):
    policy: bool = Field(
        False,
        description="Each round's policy is the prover's own search (SyGuS: the synthesizer) guided by the round's "
        "guide, instead of sampling a model: it runs on every train problem under budget_s, its verified answers "
        "enter the dataset like any sample, and the guide is refitted from the dataset after the round "
        "(docs/search.md). Round 0 searches with the uniform cost.",
    )
    budget_s: float = Field(2.0, gt=0.0, description="Seconds per search (one problem, one run).")
    guide: Literal["uniform", "pcfg", "phog", "model", "mix"] = Field(
        "phog",
        description="What each round fits: uniform (no learning: the baseline), pcfg (production counts per sort), "
        "phog (counts in the context of the parent production), model (the generator model, trained on the "
        "dataset, sampled on each problem: its samples' productions and subterms guide that problem's search), "
        "mix (the model's per-problem guide over the phog).",
    )
    model_samples: int = Field(8, ge=1, description="model/mix: samples of the model per problem that build its guide.")
    model_weight: float = Field(
        0.5, gt=0.0, le=1.0, description="model/mix: weight of the model's per-problem counts against the prior guide."
    )
    workers: int | None = Field(None, ge=1, description="Searches at once, each in its own process (default: the CPU count).")


def _default_generator() -> GeneratorConfig:
    return GeneratorConfig(backend="hf")


class RunConfig(_Section):
    """Everything `proofloop run` needs."""

    run: RunSection = Field(default_factory=RunSection, description="Run directory and seed.")
    problems: ProblemsSection = Field(default_factory=ProblemsSection, description="Which problems.")
    generator: GeneratorConfig = Field(
        default_factory=_default_generator,
        description="The policy model (hf with model unset: a tiny model created in RUN_DIR/base_model).",
    )
    round0: Literal["grammar", "model"] = Field("grammar", description="Round 0 policy: grammar sampler or model.")
    sampling: SamplingSection = Field(default_factory=SamplingSection, description="Sampling.")
    checker: CheckerSection = Field(default_factory=CheckerSection, description="Checking.")
    select: SelectSection = Field(default_factory=SelectSection, description="Dataset building.")
    train: TrainSection = Field(default_factory=TrainSection, description="Fine-tuning.")
    loop: LoopSection = Field(default_factory=LoopSection, description="Rounds and gates.")
    search: SearchSection = Field(default_factory=SearchSection, description="The search as the round's policy.")
    lean: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings of the Lean prover (project, repl, processes, memory_mb...; see docs/lean.md).",
    )

    def prover_settings(self) -> dict[str, Any]:
        """The table of settings for the configured prover ([lean] for lean; none for z3)."""
        return getattr(self, self.problems.prover, None) or {}

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data, with the same keys a config file uses."""
        return self.model_dump(mode="json", by_alias=True)

    def run_dir(self) -> Path:
        if self.run.name is None:
            raise ConfigError("config: run.name is unset (call load_config to resolve it)")
        return self.run.out_dir / self.run.name


# Keys that may differ when resuming: they change how fast a run goes, or how long, not what it
# has already recorded.
RESUMABLE_KEYS = frozenset({"loop.rounds", "checker.workers", "search.workers", "checker.executor", "run.out_dir", "run.torch_threads",
                            "checker.ray_address", "checker.ray_num_cpus", "checker.ray_memory_mb", "checker.ray_ship_code"})


def default_run_name() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def load_config(path: Path | None, overrides: list[str]) -> RunConfig:
    """Defaults, then the TOML/YAML file at `path`, then `section.key=value` overrides."""
    data = read_config_file(path) if path is not None else {}
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
    cfg = validate_config(data)
    if cfg.run.name is None:
        cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"name": default_run_name()})})
    return cfg


def load_resumed_config(saved: dict[str, Any], overrides: list[str]) -> RunConfig:
    """A run's saved config with overrides; refuses overrides that would change recorded results."""
    data = json.loads(json.dumps(saved))
    base = validate_config(saved).to_dict()
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
    cfg = validate_config(data)
    new = cfg.to_dict()
    for key in _dotted_keys(new):
        if key not in RESUMABLE_KEYS and _get_dotted(new, key) != _get_dotted(base, key):
            raise ConfigError(
                f"config: {key}={_get_dotted(new, key)!r} conflicts with the resumed run's "
                f"{key}={_get_dotted(base, key)!r}; only {', '.join(sorted(RESUMABLE_KEYS))} may change on resume"
            )
    return cfg


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML config file into a dict (ConfigError naming the file if it can't)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text()) or {}
        elif suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise ConfigError(f"config: {path}: unknown config type {suffix!r}; use .toml, .yaml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config: {path}: {e}") from None
    except Exception as e:  # yaml.YAMLError; yaml is imported lazily
        if type(e).__module__.startswith("yaml"):
            raise ConfigError(f"config: {path}: {' '.join(str(e).split())}") from None
        raise
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path}: expected a table of sections, got {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """Split `section.key=value`; the value is a TOML/JSON literal if it parses as one, else a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"config: override {item!r} must look like section.key=value")
    raw = raw.strip()
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def validate_config(data: dict[str, Any]) -> RunConfig:
    """Build a RunConfig, turning pydantic's errors into one ConfigError line."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_one_line(e)) from None


def validate_section(section: type[BaseModel], data: dict[str, Any], name: str) -> BaseModel:
    """One section's values checked as the config checks them (errors name `name.key`)."""
    try:
        return section.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_one_line(e, prefix=[name])) from None


def _one_line(e: ValidationError, prefix: list[str] | None = None) -> str:
    err = e.errors()[0]
    loc = (prefix or []) + [str(p) for p in err["loc"] if not isinstance(p, int)]
    key = ".".join(loc) or "config"
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return f"config: unknown key {key!r}; allowed: {', '.join(_allowed_keys(loc[:-1]))}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        op = bounds[kind]
        limit = next(iter(ctx.values()))
        return f"config: {key}: must be {op} {limit} (got {got!r})"
    if kind == "literal_error":
        return f"config: {key}: must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        # A section validator names its field first ("k: must be ..."), so the key is whole.
        field, sep, rest = msg.partition(": ")
        if sep and field.isidentifier():
            key, msg = f"{key}.{field}", rest
        return f"config: {key}: {msg}"
    if kind == "model_type" or kind == "dict_type":
        return f"config: {key}: must be a table of keys (got {got!r})"
    return f"config: {key}: {err['msg'].lower()} (got {got!r})"


def _allowed_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = _field_named(model, part)
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_named(model: type[BaseModel], key: str):
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f
    return None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config: {key}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _get_dotted(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for k, v in data.items():
        full = f"{prefix}{k}"
        keys.extend(_dotted_keys(v, full + ".") if isinstance(v, dict) and v else [full])
    return keys


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
