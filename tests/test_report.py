"""`proofloop report`: plots and an HTML page built from a run's store."""

from __future__ import annotations

import base64
import re
import sqlite3

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.errors import RunDirError
from proofloop.report import PLOT_NAMES, format_value, load_summary, round_table, write_report
from synthetic_run import GATES, K, METRICS, build_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("runs") / "synthetic")


@pytest.fixture(scope="module")
def written(run_dir, tmp_path_factory):
    return write_report(run_dir, tmp_path_factory.mktemp("report"))


def test_summary_reads_the_store(run_dir):
    s = load_summary(run_dir)
    assert s.k == K
    assert s.round_numbers == [0, 1, 2]
    assert s.value(2, "heldout_pass@1") == 0.5
    assert s.value(0, "heldout_nll") is None
    assert s.series("heldout_nll") == ([1, 2], [2.25, 1.5])
    assert s.dataset_by_origin == {"reference": 1, "verified": 4}
    assert s.dataset_by_round == {0: 2, 1: 2, 2: 1}
    assert s.meta["run_id"] == "synthetic"
    assert s.config["sampling"]["k"] == K
    # examples are verified rows only, newest first, one per problem
    assert [e["problem_id"] for e in s.examples] == ["plus2", "max2", "double"]
    assert all(e["round"] in (1, 2) for e in s.examples)


def test_round_table_values(run_dir):
    header, rows = round_table(load_summary(run_dir))
    assert header[:3] == ["round", "policy", "kept"] and header[-1] == "gate"
    assert f"heldout_pass@{K}" in header
    by_round = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_round["0"]["policy"] == "grammar"
    assert by_round["1"]["kept"] == "no" and by_round["2"]["kept"] == "yes"
    assert by_round["1"]["gate"] == GATES[1][1]
    assert by_round["2"][f"heldout_pass@{K}"] == "0.875"
    assert by_round["2"]["solved_train"] == "3"
    assert by_round["0"]["heldout_nll"] == "-"


def test_format_value():
    assert format_value("solved_train", 3.0) == "3"
    assert format_value("heldout_pass@1", 0.5) == "0.500"
    assert format_value("entropy", None) == "-"
    assert format_value("entropy", float("nan")) == "-"


def test_report_writes_pngs(written):
    _, files = written
    assert set(files.plots) == set(PLOT_NAMES)
    for path in files.plots.values():
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), path
        assert len(data) > 10_000, path  # a real chart, not an empty canvas


def test_report_html_is_self_contained(written):
    summary, files = written
    page = files.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(PLOT_NAMES)
    for b64 in images:
        assert base64.b64decode(b64).startswith(PNG_MAGIC)
    # no external resources
    assert "http://" not in page and "https://" not in page and 'src="/' not in page
    # the table's values, the gate reasons, the config and an example solution
    for value in ("0.875", "0.125", "0.062", GATES[1][1].replace(">", "&gt;"), "discarded", "synthetic"):
        assert value in page, value
    assert "(define-fun plus2 ((x Int)) Int (+ 2 x))" in page
    assert "&quot;forgetting_threshold&quot;: 0.5" in page
    assert f"heldout_pass@{K}" in page


def test_report_escapes_store_text(tmp_path):
    run_dir = build_run(tmp_path / "run")
    with sqlite3.connect(run_dir / "store.sqlite") as conn:
        conn.execute("UPDATE rounds SET gate_reason = '<script>alert(1)</script>' WHERE round = 1")
    _, files = write_report(run_dir, tmp_path / "out")
    page = files.html.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_of_a_run_in_progress(tmp_path):
    run_dir = build_run(tmp_path / "run")
    with sqlite3.connect(run_dir / "store.sqlite") as conn:
        conn.execute("INSERT INTO rounds(round, policy, phase) VALUES (3, 'model', 'train')")
    summary, files = write_report(run_dir, tmp_path / "out")
    _, rows = round_table(summary)
    assert rows[-1][:3] == ["3", "model", "(train)"]
    assert "in progress (train)" in files.html.read_text()


def test_report_cli_defaults_to_run_dir_report(tmp_path):
    run_dir = build_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run_dir)], terminal_width=200)
    assert result.exit_code == 0, result.output
    out_dir = run_dir / "report"
    assert f"report: {out_dir / 'report.html'}" in result.output
    for name in PLOT_NAMES:
        assert f"plot: {out_dir / (name + '.png')}" in result.output
        assert (out_dir / f"{name}.png").is_file()
    # the per-round table and the gate decisions are printed
    lines = result.output.splitlines()
    assert lines[1].split() == ["rnd", "policy", "kept", "solved", "pass@1", f"pass@{K}", "forget", "uniq", "dist-2", "ent", "data"]
    assert lines[4].split() == ["2", "model", "yes", "3", "0.500", "0.875", "0.000", "1.667", "0.500", "1.250", "5"]
    assert lines[5:8] == ["round 0: kept: baseline", f"round 1: discarded: {GATES[1][1]}", "round 2: kept: improved"]


def test_report_cli_not_a_run(tmp_path):
    (tmp_path / "notarun").mkdir()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "notarun")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {tmp_path / 'notarun'} is not a proofloop run (no store.sqlite)"]
    assert not (tmp_path / "notarun" / "report").exists()


def test_report_not_a_sqlite_file(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "store.sqlite").write_text("not a database\n")
    with pytest.raises(RunDirError, match="is not a proofloop run"):
        load_summary(tmp_path / "bad")


def test_metrics_of_the_fixture_are_what_the_table_shows(run_dir):
    s = load_summary(run_dir)
    for r, values in METRICS.items():
        for key, v in values.items():
            assert s.value(r, key) == pytest.approx(v)


def test_report_damaged_config(tmp_path):
    run_dir = build_run(tmp_path / "run")
    with sqlite3.connect(run_dir / "store.sqlite") as conn:
        conn.execute("UPDATE meta SET value = '{not json' WHERE key = 'config'")
    with pytest.raises(RunDirError, match="saved config is not valid JSON"):
        load_summary(run_dir)


def test_levels_heatmap_reads_the_per_level_counts(tmp_path):
    from proofloop.report import level_grid, plot_levels
    from proofloop.store import Store

    run_dir = build_run(tmp_path / "levels")
    with Store.open(run_dir) as store:
        for r, solved in ((0, (2, 0)), (1, (3, 1)), (2, (4, 2))):
            kept, reason = GATES[r]
            store.finish_round(r, kept=kept, gate_reason=reason, checkpoint=None, metrics={
                "heldout_level1_solved": solved[0], "heldout_level1_total": 4,
                "heldout_level3_solved": solved[1], "heldout_level3_total": 5,
                "train_level1_solved": 10 * (r + 1),
            })
    summary = load_summary(run_dir)
    assert level_grid(summary, "heldout") == ([1, 3], [0, 1, 2], [[2, 3, 4], [0, 1, 2]])
    assert level_grid(summary, "train") == ([1], [0, 1, 2], [[10, 20, 30]])
    path = plot_levels(summary, tmp_path / "levels.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    # a run without ladder metrics still gets the plot, saying there is nothing to show
    assert plot_levels(load_summary(build_run(tmp_path / "plain")), tmp_path / "plain.png").stat().st_size > 0
