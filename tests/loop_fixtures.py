"""Tiny SyGuS problems and a seconds-long run config shared by the loop tests."""

from __future__ import annotations

from pathlib import Path

# (id, split, function, params, grammar terminals, spec body, reference body)
_PROBLEMS = [
    ("inc", "train", "f", ["x"], "x 1", "(+ x 1)", "(+ x 1)"),
    ("dbl", "train", "f", ["x"], "x 1", "(+ x x)", "(+ x x)"),
    ("plus2", "train", "f", ["x"], "x 1", "(+ x 2)", "(+ x (+ 1 1))"),
    ("sum", "train", "f", ["x", "y"], "x y 1", "(+ x y)", "(+ x y)"),
    ("inc_y", "heldout", "g", ["y"], "y 1", "(+ y 1)", "(+ y 1)"),
    ("sum_ab", "heldout", "g", ["a", "b"], "a b 1", "(+ b a)", "(+ a b)"),
]


def write_problems(directory: Path) -> Path:
    """Six small problems (four train, two held-out) that the grammar sampler solves often."""
    directory.mkdir(parents=True, exist_ok=True)
    for pid, split, fun, params, terminals, spec, ref in _PROBLEMS:
        sig = " ".join(f"({p} Int)" for p in params)
        call = f"({fun} {' '.join(params)})"
        decls = "\n".join(f"(declare-var {p} Int)" for p in params)
        (directory / f"{pid}.sl").write_text(
            f";; split: {split}\n;; reference: (define-fun {fun} ({sig}) Int {ref})\n(set-logic LIA)\n"
            f"(synth-fun {fun} ({sig}) Int\n  ((Start Int ({terminals} (+ Start Start)))))\n{decls}\n"
            f"(constraint (= {call} {spec}))\n(check-synth)\n"
        )
    return directory


def write_config(
    path: Path, problems: Path, out_dir: Path, name: str, prover: str = "z3", **sections: dict | str
) -> Path:
    """A TOML run config: 2 rounds (0 and 1), a handful of samples, a few training steps; a
    value that is not a table is a top-level key (`round0="model"`)."""
    cfg = {
        "run": {"out_dir": str(out_dir), "name": name, "seed": 0},
        # inc_y is inc with another name: the loop tests want a held-out problem the grammar solves.
        "problems": {"path": str(problems), "prover": prover, "probe_size": 2, "allow_overlap": True},
        "generator": {"batch_size": 16, "device": "cpu"},
        "sampling": {"n": 4, "eval_n": 4, "k": 2, "max_new_tokens": 24, "coverage_n": 8, "coverage_problems": 2},
        "checker": {"workers": 1, "timeout_s": 5.0},
        "select": {"seed_fraction": 0.5},
        "train": {"max_steps": 3, "batch_size": 8, "lr": 3e-3, "warmup": 1, "base_pretrain_steps": 2},
        "loop": {"rounds": 1},
    }
    top = {key: value for key, value in sections.items() if not isinstance(value, dict)}
    for section, values in sections.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
    lines = [f"{key} = {_toml(value)}" for key, value in top.items()]
    for section, values in cfg.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


ROUND_METRICS = (
    "solved_train", "solved_train_round", "heldout_pass@1", "forgetting", "unique_per_solved", "distinct_2",
    "entropy", "heldout_nll", "dataset_size", "train_rows", "kept", "time_sample_s", "time_check_s", "time_train_s",
    "time_eval_s", "samples_per_s", "checks_per_s", "train_tokens_per_s", "train_loss_first", "train_loss_last",
)


def assert_store_invariants(run_dir: Path, *, n: int, eval_n: int, k: int, rounds: int, grammar: bool = True) -> None:
    """What a finished run's store must hold, however often the run was killed and resumed
    (`grammar`: the prover has a grammar sampler, so round 0 has a grammar baseline)."""
    import sqlite3

    conn = sqlite3.connect(run_dir / "store.sqlite")
    q = lambda sql, *args: conn.execute(sql, args).fetchall()  # noqa: E731
    train = {r[0] for r in q("SELECT id FROM problems WHERE split = 'train'")}
    heldout = {r[0] for r in q("SELECT id FROM problems WHERE split = 'heldout'")}
    # Every attempt has exactly one verdict for its (problem, canonical form): none missing, none twice.
    per_attempt = q(
        "SELECT a.id, COUNT(v.status) FROM attempts a LEFT JOIN verdicts v ON v.problem_id = a.problem_id "
        "AND v.canonical_hash = a.canonical_hash GROUP BY a.id"
    )
    assert per_attempt and all(count == 1 for _, count in per_attempt), per_attempt
    # No verdict for something that was neither sampled nor a reference solution.
    orphans = q(
        "SELECT v.problem_id FROM verdicts v WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE "
        "a.problem_id = v.problem_id AND a.canonical_hash = v.canonical_hash) AND NOT EXISTS (SELECT 1 FROM dataset d "
        "WHERE d.origin = 'reference' AND d.problem_id = v.problem_id AND d.canonical_hash = v.canonical_hash)"
    )
    assert orphans == [] or all(pid in train for (pid,) in orphans)
    for r in range(rounds + 1):
        counts = dict(q("SELECT purpose, COUNT(*) FROM attempts WHERE round = ? GROUP BY purpose", r))
        probe = dict(q("SELECT key, value FROM metrics WHERE round = ?", r)).get("probe_size", 0)
        assert counts.get("train") == n * len(train), (r, counts)
        assert counts.get("heldout") == eval_n * len(heldout), (r, counts)
        assert counts.get("probe", 0) == eval_n * probe, (r, counts)
        assert counts.get("baseline", 0) == (eval_n * len(heldout) if r == 0 and grammar else 0), (r, counts)
        coverage = q("SELECT problem_id, COUNT(*) FROM attempts WHERE round = ? AND purpose = 'coverage' "
                     "GROUP BY problem_id", r)
        assert coverage and all(pid in heldout for pid, _ in coverage)  # the curve samples held-out problems only
        metrics = dict(q("SELECT key, value FROM metrics WHERE round = ?", r))
        curve = [v for _, v in sorted((int(key.rsplit("@", 1)[1]), v) for key, v in metrics.items()
                                     if key.startswith("coverage_pass@"))]
        assert len(curve) >= 2 and curve == sorted(curve), (r, curve)  # pass@k never falls as k grows
        assert {key for key in metrics if key.startswith("guard_")} == {"guard_forgetting", "guard_heldout_drop", "guard_collapse"}
        missing = [key for key in ROUND_METRICS + (f"heldout_pass@{k}",) if key not in metrics]
        assert not missing, (r, missing)
        if r == 0 and grammar:
            assert f"grammar_heldout_pass@{k}" in metrics and "grammar_heldout_pass@1" in metrics
        (phase, kept, checkpoint), = q("SELECT phase, kept, checkpoint FROM rounds WHERE round = ?", r)
        assert phase == "done" and kept == metrics["kept"] and Path(checkpoint).is_dir()
        assert q("SELECT kept FROM checkpoints WHERE round = ?", r) == [(kept,)]
        rows = q("SELECT d.round FROM training_rows t JOIN dataset d ON d.id = t.dataset_id WHERE t.round = ?", r)
        assert rows and all(dr <= r for (dr,) in rows)
        assert metrics["train_rows"] == len(rows)
    # Every verified train attempt made it into the dataset.
    lost = q(
        "SELECT a.id FROM attempts a JOIN verdicts v ON v.problem_id = a.problem_id AND v.canonical_hash = "
        "a.canonical_hash WHERE v.status = 'verified' AND a.purpose IN ('train', 'retry') AND NOT EXISTS "
        "(SELECT 1 FROM dataset d WHERE d.problem_id = a.problem_id AND d.canonical_hash = a.canonical_hash)"
    )
    assert lost == []
    conn.close()
