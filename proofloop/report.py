"""Reports of a run, built from its store: a per-round table, PNG plots and one HTML page.

Everything here reads the run store (never the logs), so a report of a finished, crashed or
still-running run shows exactly what the run recorded.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from datetime import datetime, timezone
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofloop.errors import RunDirError
from proofloop.metrics import CATALOG, metric_names, with_k
from proofloop.store import CONFIG_FILE, Store

log = logging.getLogger(__name__)

PHASE_TIME_KEYS = metric_names(group="phase_time")
DIVERSITY_KEYS = metric_names(group="diversity")
# Metrics that count things: shown without decimals.
COUNT_KEYS = frozenset(metric_names(count=True)) | {"kept"}
PLOT_NAMES = ("pass_at_k", "coverage", "solved_train", "diversity", "forgetting", "time_per_phase", "levels")
HTML_NAME = "report.html"
EXAMPLES = 6


@dataclass(frozen=True)
class RunSummary:
    """What a report shows, read from a run's store in one go."""

    run_dir: Path
    meta: dict[str, str]
    config: dict[str, Any]
    k: int | None
    rounds: list[dict[str, Any]]
    metrics: dict[int, dict[str, float | None]]
    dataset_by_origin: dict[str, int] = field(default_factory=dict)
    dataset_by_round: dict[int, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def round_numbers(self) -> list[int]:
        return sorted({r["round"] for r in self.rounds} | set(self.metrics))

    def value(self, round: int, key: str) -> float | None:
        """A metric of a round, or None where the round did not record it."""
        v = self.metrics.get(round, {}).get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(rounds, values) of a metric, over the rounds that recorded it."""
        pairs = [(r, self.value(r, key)) for r in self.round_numbers]
        kept = [(r, v) for r, v in pairs if v is not None]
        return [r for r, _ in kept], [float(v) for _, v in kept]

    def round_row(self, round: int) -> dict[str, Any]:
        return next((r for r in self.rounds if r["round"] == round), {})


@dataclass(frozen=True)
class ReportFiles:
    """The files one report wrote."""

    html: Path
    plots: dict[str, Path]


def load_summary(run_dir: Path) -> RunSummary:
    """Read everything a report shows from RUN_DIR/store.sqlite (RunDirError if it is not a run)."""
    run_dir = Path(run_dir)
    with Store.open(run_dir) as store:
        meta = store.meta_items()
        config = _saved_config(store, run_dir)
        metrics = store.all_metrics()
        rounds = store.round_rows()
        by_origin = store.dataset_counts("origin")
        by_round = store.dataset_counts("round")
        examples = _examples(store)
    return RunSummary(
        run_dir=run_dir,
        meta=meta,
        config=config,
        k=_configured_k(config, metrics),
        rounds=rounds,
        metrics=metrics,
        dataset_by_origin=by_origin,
        dataset_by_round=by_round,
        examples=examples,
    )


def _saved_config(store: Store, run_dir: Path) -> dict[str, Any]:
    raw = store.meta("config")
    if raw is None and (run_dir / CONFIG_FILE).is_file():
        raw = (run_dir / CONFIG_FILE).read_text()
    try:
        config = json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        raise RunDirError(f"{run_dir}: the run's saved config is not valid JSON ({e})") from None
    return config if isinstance(config, dict) else {}


def _configured_k(config: dict[str, Any], metrics: dict[int, dict[str, Any]]) -> int | None:
    k = config.get("sampling", {}).get("k")
    if isinstance(k, int) and k > 1:
        return k
    # Older or hand-made stores: take K from the recorded `heldout_pass@K` keys.
    ks = {
        int(key.rsplit("@", 1)[1])
        for values in metrics.values()
        for key in values
        if key.startswith("heldout_pass@") and key.rsplit("@", 1)[1].isdigit()
    }
    ks.discard(1)
    return max(ks) if ks else None


def _examples(store: Store) -> list[dict[str, Any]]:
    """A few verified solutions, newest rounds first, at most one per problem."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in store.verified_examples(limit=200):
        if row["problem_id"] not in seen:
            seen.add(row["problem_id"])
            out.append(row)
        if len(out) == EXAMPLES:
            break
    return out


# -- the per-round table --------------------------------------------------------------------


def table_columns(summary: RunSummary) -> list[str]:
    """The per-round table's metric columns (pass@K with the run's K)."""
    cols = []
    for name in metric_names(column=True):
        if "@K" in name and summary.k is None:
            continue
        if name == "disputed" and not any(values.get("disputed") for values in summary.metrics.values()):
            continue  # candidates the cross-check's two solvers judged differently: shown when there are any
        cols.append(with_k(name, summary.k))
    return cols


def format_value(key: str, value: float | None) -> str:
    """A metric as the table shows it: counts as integers, rates with three decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in COUNT_KEYS:
        return str(int(round(value)))
    return f"{value:.3f}"


def round_table(summary: RunSummary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-round table, as strings (shared by terminal and HTML)."""
    cols = table_columns(summary)
    header = ["round", "policy", "kept", *cols, "gate"]
    rows = []
    for r in summary.round_numbers:
        info = summary.round_row(r)
        kept = info.get("kept")
        kept_text = "-" if kept is None else ("yes" if kept else "no")
        if kept is None and info.get("phase") not in (None, "done"):
            kept_text = f"({info['phase']})"
        cells = [format_value(c, summary.value(r, c)) for c in cols]
        rows.append([str(r), str(info.get("policy", "-")), kept_text, *cells, info.get("gate_reason") or ""])
    return header, rows


# The terminal table keeps the columns that fit 80-100 characters; the HTML page has them all.
_TERMINAL = {"round": "rnd", "policy": "policy", "kept": "kept"} | {m.name: m.column for m in CATALOG if m.column}


def rich_table(summary: RunSummary):
    """The per-round table as a compact rich Table for the terminal."""
    from rich.table import Table

    header, rows = round_table(summary)
    names = [n.replace(f"@{summary.k}", "@K") if n.startswith("heldout_pass@") and summary.k else n for n in header]
    picked = [i for i, n in enumerate(names) if n in _TERMINAL]
    table = Table(title=f"run {summary.meta.get('run_id', summary.run_dir.name)}", box=None, pad_edge=False)
    for i in picked:
        label = _TERMINAL[names[i]].replace("@K", f"@{summary.k}")
        table.add_column(label, justify="left" if names[i] in ("policy", "kept") else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(row[i] for i in picked))
    return table


def gate_lines(summary: RunSummary) -> list[str]:
    """One `round N: kept|discarded: reason` line per finished round."""
    out = []
    for r in summary.rounds:
        if r.get("kept") is not None:
            state = "kept" if r["kept"] else "discarded"
            reason = f": {r['gate_reason']}" if r.get("gate_reason") else ""
            out.append(f"round {r['round']}: {state}{reason}")
    return out


# -- plots ------------------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.0):
    # A bare Figure (no pyplot) renders with Agg and leaves the process's backend alone.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig


def _round_axis(ax, rounds: Sequence[int]) -> None:
    ax.set_xlabel("round")
    if rounds:
        ax.set_xticks(list(rounds))
    ax.grid(True, alpha=0.3)


def _finish(fig, ax, path: Path, rounds: Sequence[int], ylabel: str, title: str) -> Path:
    """Label a one-axis plot, put rounds on its x axis, and save it to `path`."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _round_axis(ax, rounds)
    fig.savefig(path)
    return path


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded yet", ha="center", va="center", transform=ax.transAxes, color="gray")


def _discarded(summary: RunSummary) -> set[int]:
    return {r["round"] for r in summary.rounds if r.get("kept") == 0}


def plot_pass_at_k(summary: RunSummary, path: Path) -> Path:
    """Held-out pass@1 and pass@K per round, the grammar baseline dashed, discarded rounds marked."""
    fig = _figure()
    ax = fig.add_subplot()
    keys = ["heldout_pass@1"] + ([f"heldout_pass@{summary.k}"] if summary.k else [])
    discarded = _discarded(summary)
    drawn = False
    for i, key in enumerate(keys):
        color = f"C{i}"
        rounds, values = summary.series(key)
        if rounds:
            drawn = True
            ax.plot(rounds, values, marker="o", color=color, label=key.removeprefix("heldout_"))
            band = [(r, summary.value(r, f"{key}_lo"), summary.value(r, f"{key}_hi")) for r in rounds]
            band = [b for b in band if b[1] is not None and b[2] is not None]
            if band:  # the 95% bootstrap interval over problems
                ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color=color,
                                alpha=0.15, label=f"{key.removeprefix('heldout_')} 95% interval")
            bad = [(r, v) for r, v in zip(rounds, values) if r in discarded]
            if bad:
                ax.scatter(*zip(*bad), s=110, facecolors="none", edgecolors="red", zorder=3, linewidths=1.5)
        base = summary.value(0, f"grammar_{key}")
        if base is not None:
            drawn = True
            ax.axhline(base, color=color, linestyle="--", alpha=0.8, label=f"grammar {key.removeprefix('heldout_')}")
    if discarded:
        ax.scatter([], [], s=110, facecolors="none", edgecolors="red", label="discarded round")
    if not drawn:
        _no_data(ax, "held-out pass@k")
    else:
        ax.legend(loc="best", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, path, summary.round_numbers, "held-out pass@k", "Held-out pass@k per round")


def plot_solved_train(summary: RunSummary, path: Path) -> Path:
    """Training problems solved so far (line) and by each round's own samples (bars)."""
    fig = _figure()
    ax = fig.add_subplot()
    rounds_round, values_round = summary.series("solved_train_round")
    rounds_total, values_total = summary.series("solved_train")
    if rounds_round:
        ax.bar(rounds_round, values_round, width=0.5, color="C2", alpha=0.6, label="solved by this round")
    if rounds_total:
        ax.plot(rounds_total, values_total, marker="o", color="C0", label="solved so far")
    if rounds_round or rounds_total:
        ax.legend(loc="best", fontsize=8)
    else:
        _no_data(ax, "solved-problem count")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, ax, path, summary.round_numbers, "training problems", "Solved training problems per round")


def plot_diversity(summary: RunSummary, path: Path) -> Path:
    """Unique solutions per solved problem, distinct-2 and token entropy, one panel each."""
    fig = _figure(9.6, 3.4)
    axes = fig.subplots(1, len(DIVERSITY_KEYS))
    titles = {"unique_per_solved": "unique solutions / solved", "distinct_2": "distinct-2", "entropy": "token entropy"}
    for i, (ax, key) in enumerate(zip(axes, DIVERSITY_KEYS)):
        rounds, values = summary.series(key)
        if rounds:
            ax.plot(rounds, values, marker="o", color=f"C{i + 3}")
        else:
            _no_data(ax, key)
        ax.set_title(titles[key], fontsize=10)
        _round_axis(ax, summary.round_numbers)
    fig.suptitle("Diversity per round")
    fig.savefig(path)
    return path


def plot_forgetting(summary: RunSummary, path: Path) -> Path:
    """Probe-set forgetting rate per round, with the gate's threshold where configured."""
    fig = _figure()
    ax = fig.add_subplot()
    rounds, values = summary.series("forgetting")
    if rounds:
        ax.plot(rounds, values, marker="o", color="C3", label="forgetting")
    else:
        _no_data(ax, "forgetting rate")
    threshold = summary.config.get("loop", {}).get("forgetting_threshold")
    if isinstance(threshold, (int, float)):
        ax.axhline(threshold, color="gray", linestyle=":", label=f"gate threshold {threshold:g}")
    if rounds or threshold is not None:
        ax.legend(loc="best", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, path, summary.round_numbers, "solved before, failed now", "Forgetting on the probe set")


def plot_coverage(summary: RunSummary, path: Path) -> Path:
    """The coverage curve of each round's model: held-out pass@k against k (log scale)."""
    fig = _figure()
    ax = fig.add_subplot()
    drawn = False
    for r in summary.round_numbers:
        values = summary.metrics.get(r, {})
        points = sorted((int(key.rsplit("@", 1)[1]), v) for key, v in values.items()
                        if key.startswith("coverage_pass@") and v is not None)
        if points:
            style = ":" if r in _discarded(summary) else "-"
            ax.plot([k for k, _ in points], [v for _, v in points], style, marker="o", label=f"round {r}")
            drawn = True
    if drawn:
        ax.set_xscale("log", base=2)
        ax.legend(loc="best", fontsize=8)
    else:
        _no_data(ax, "coverage curve")
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("held-out pass@k")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Coverage: pass@k by k (a fixed held-out subset; dotted: discarded)")
    fig.savefig(path)
    return path


def plot_time_per_phase(summary: RunSummary, path: Path) -> Path:
    """Seconds spent per phase in each round, as stacked bars."""
    fig = _figure()
    ax = fig.add_subplot()
    rounds = summary.round_numbers
    bottom = [0.0] * len(rounds)
    drawn = False
    for i, key in enumerate(PHASE_TIME_KEYS):
        values = [summary.value(r, key) or 0.0 for r in rounds]
        if any(values):
            drawn = True
            label = key.removeprefix("time_").removesuffix("_s")
            ax.bar(rounds, values, width=0.6, bottom=bottom, color=f"C{i}", label=label)
            bottom = [b + v for b, v in zip(bottom, values)]
    if drawn:
        ax.legend(loc="best", fontsize=8)
    else:
        _no_data(ax, "phase timing")
    return _finish(fig, ax, path, rounds, "seconds", "Time per phase")


def level_grid(summary: RunSummary, prefix: str) -> tuple[list[int], list[int], list[list[float | None]]]:
    """(levels, rounds, solved counts[level][round]) from the `{prefix}_level{L}_solved` metrics."""
    pattern = re.compile(rf"{prefix}_level(\d+)_solved")
    levels = sorted({int(m.group(1)) for values in summary.metrics.values() for key in values if (m := pattern.fullmatch(key))})
    rounds = summary.round_numbers
    return levels, rounds, [[summary.value(r, f"{prefix}_level{lv}_solved") for r in rounds] for lv in levels]


def plot_levels(summary: RunSummary, path: Path) -> Path:
    """Heatmaps of the climb: held-out problems solved per level per round (of those at the level),
    and train problems solved so far per level."""
    fig = _figure(9.0, 3.8)
    for i, (prefix, title) in enumerate((("heldout", "held-out solved / level size"), ("train", "train solved so far"))):
        ax = fig.add_subplot(1, 2, i + 1)
        levels, rounds, grid = level_grid(summary, prefix)
        if not levels:
            _no_data(ax, f"{prefix} levels")
            ax.set_title(title)
            continue
        totals = [[summary.value(r, f"heldout_level{lv}_total") for r in rounds] for lv in levels]
        shade = [
            [(v or 0.0) / (t or 1.0) if prefix == "heldout" else (v or 0.0) for v, t in zip(row, trow)]
            for row, trow in zip(grid, totals)
        ]
        top = 1.0 if prefix == "heldout" else max(1.0, max(max(row) for row in shade))
        ax.imshow(shade, aspect="auto", origin="lower", cmap="viridis", vmin=0.0, vmax=top)
        for y, row in enumerate(grid):
            for x, v in enumerate(row):
                t = totals[y][x]
                label = "-" if v is None else (f"{v:.0f}/{t:.0f}" if prefix == "heldout" and t else f"{v:.0f}")
                ax.text(x, y, label, ha="center", va="center", fontsize=7, color="white" if shade[y][x] < 0.6 * top else "black")
        ax.set_xticks(range(len(rounds)), [str(r) for r in rounds])
        ax.set_yticks(range(len(levels)), [str(lv) for lv in levels])
        ax.set_xlabel("round")
        ax.set_ylabel("level")
        ax.set_title(title)
    fig.savefig(path)
    return path


PLOTTERS = {
    "levels": plot_levels,
    "pass_at_k": plot_pass_at_k,
    "coverage": plot_coverage,
    "solved_train": plot_solved_train,
    "diversity": plot_diversity,
    "forgetting": plot_forgetting,
    "time_per_phase": plot_time_per_phase,
}


def write_plots(summary: RunSummary, out_dir: Path) -> dict[str, Path]:
    """Write every plot as out_dir/NAME.png; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: plot(summary, out_dir / f"{name}.png") for name, plot in PLOTTERS.items()}


# -- the HTML page ------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}
td.text,th.text{text-align:left}tr.discarded td{color:#a33}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1rem}
.plots img{width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;font-size:.8rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
"""

_TEXT_COLUMNS = frozenset({"policy", "kept", "gate", "metric"})


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] = ()) -> str:
    def cls(name: str) -> str:
        return ' class="text"' if name in _TEXT_COLUMNS else ""

    head = "".join(f"<th{cls(h)}>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td{cls(h)}>{_e(c)}</td>" for h, c in zip(header, row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _all_metrics_table(summary: RunSummary) -> str:
    rounds = summary.round_numbers
    keys = sorted({k for values in summary.metrics.values() for k in values})
    rows = [[k, *(format_value(k, summary.value(r, k)) for r in rounds)] for k in keys]
    return _html_table(["metric", *(f"round {r}" for r in rounds)], rows)


def _gate_list(summary: RunSummary) -> str:
    items = []
    for r in summary.rounds:
        if r.get("kept") is None:
            state = f"in progress ({r.get('phase')})"
        else:
            state = "kept" if r["kept"] else "discarded"
        reason = f": {_e(r['gate_reason'])}" if r.get("gate_reason") else ""
        ckpt = f" <code>{_e(r['checkpoint'])}</code>" if r.get("checkpoint") else ""
        items.append(f"<li>round {r['round']} ({_e(r['policy'])}): <b>{state}</b>{reason}{ckpt}</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>No rounds recorded yet.</p>"


def _dataset_section(summary: RunSummary) -> str:
    total = sum(summary.dataset_by_origin.values())
    origins = ", ".join(f"{_e(o)}: {n}" for o, n in summary.dataset_by_origin.items()) or "none"
    by_round = _html_table(
        ["round", "rows added"], [[str(r), str(n)] for r, n in summary.dataset_by_round.items()]
    )
    examples = []
    for ex in summary.examples:
        examples.append(
            f"<h3>{_e(ex['problem_id'])} <small>(round {ex['round']}, {_e(ex['generator'] or '-')}, "
            f"checked by {_e(ex['checker'] or '-')} {_e(ex['checker_version'] or '')})</small></h3>"
            f"<pre>{_e(ex['candidate'])}</pre>"
        )
    shown = "".join(examples) or "<p>No verified solutions yet.</p>"
    return (
        f"<p>{total} rows ({origins}).</p>{by_round}"
        f"<h2>Example verified solutions</h2>{shown}"
    )


def _meta_value(key: str, value: str) -> str:
    if key.endswith("_at"):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (ValueError, OverflowError, OSError):
            pass
    return value


def render_html(summary: RunSummary, plots: dict[str, Path]) -> str:
    """The self-contained report page: plots inlined as data URIs, every string escaped."""
    header, rows = round_table(summary)
    discarded = _discarded(summary)
    classes = ["discarded" if int(row[0]) in discarded else "" for row in rows]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(_meta_value(k, v))}</dd>" for k, v in sorted(summary.meta.items()))
    meta += f"<dt>run_dir</dt><dd>{_e(summary.run_dir)}</dd>"
    images = "".join(_img(path, name) for name, path in plots.items())
    config = json.dumps(summary.config, indent=2, sort_keys=True) if summary.config else "(no config saved)"
    title = f"proofloop run {summary.meta.get('run_id', summary.run_dir.name)}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}</style></head>'
        f"<body><h1>{_e(title)}</h1><dl>{meta}</dl>"
        f"<h2>Rounds</h2>{_html_table(header, rows, classes)}"
        f'<h2>Plots</h2><div class="plots">{images}</div>'
        f"<h2>Gate decisions</h2>{_gate_list(summary)}"
        f"<h2>Dataset</h2>{_dataset_section(summary)}"
        f"<h2>All metrics</h2>{_all_metrics_table(summary)}"
        f"<h2>Resolved config</h2><pre>{_e(config)}</pre>"
        "</body></html>\n"
    )


def write_report(run_dir: Path, out_dir: Path | None = None) -> tuple[RunSummary, ReportFiles]:
    """Write the plots and the HTML page of a run (default: RUN_DIR/report/)."""
    summary = load_summary(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    plots = write_plots(summary, out_dir)
    page = out_dir / HTML_NAME
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(render_html(summary, plots), encoding="utf-8")
    tmp.replace(page)
    log.info("wrote report of %s to %s", run_dir, out_dir)
    return summary, ReportFiles(html=page, plots=plots)
