"""bench/results.json and README's generated table: what a benchmark reports is recorded with its
command and load, and the table in README is rewritten from it between its markers only."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, REPO)
from bench import common, readme_table  # noqa: E402


def test_reported_figures_are_recorded_when_asked(tmp_path, monkeypatch, capsys):
    record = tmp_path / "record.jsonl"
    common.report("reader", [("raw", 200.0), ("mxdl", 190.0)], "raw")
    assert not record.exists()  # not asked: printed only
    monkeypatch.setenv("MXDL_BENCH_RECORD", str(record))
    common.report("reader", [("raw", 200.0), ("mxdl", 190.0)], "raw")
    common.figure("start-up", "opening 0.010s", opening_s=0.01)
    lines = [json.loads(line) for line in open(record)]
    assert lines[0]["rows"][1] == {"name": "mxdl", "images_per_sec": 190.0, "ratio": 0.95}
    assert lines[1] == {"title": "start-up", "text": "opening 0.010s", "values": {"opening_s": 0.01}}
    assert "x0.950 of raw" in capsys.readouterr().out


def _results(loaded):
    return {"machine": {"cpu": "Test CPU", "cores": 2, "python": "3.11", "mxnet": "1.9.1"},
            "written": "2026-12-02T09:00:00",
            "benchmarks": [{"script": "reader", "command": "python bench/reader.py --shards S",
                            "busy_before": 0.6 if loaded else 0.02,
                            "load_before": [1.5 if loaded else 0.1, 0, 0], "load_after": [0.2, 0, 0],
                            "loaded": loaded, "seconds": 3, "date": "2026-12-02",
                            "results": [{"title": "reader", "baseline": "raw",
                                         "rows": [{"name": "raw", "images_per_sec": 2000.0, "ratio": 1.0},
                                                  {"name": "mxdl", "images_per_sec": 1900.0, "ratio": 0.95}]},
                                        {"title": "start-up", "text": "opening 0.010s", "values": {}}]}]}


@pytest.mark.parametrize("loaded", [False, True])
def test_readme_table_is_written_between_its_markers_only(tmp_path, loaded):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(loaded)))
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\nbefore\n{readme_table.START}\nold table\n{readme_table.END}\nafter\n")
    readme_table.main(["--results", str(results), "--write", str(readme)])
    text = readme.read_text()
    assert text.startswith("# title\nbefore\n") and text.endswith(f"{readme_table.END}\nafter\n")
    assert "old table" not in text
    assert "| reader | raw 2,000.0 img/s (x1.000); mxdl 1,900.0 img/s (x0.950) | `python bench/reader.py --shards S` |" \
        in text
    assert "opening 0.010s" in text and ("(loaded)" in text) == loaded
    readme_table.main(["--results", str(results), "--write", str(readme)])
    assert readme.read_text() == text  # rewriting is stable


def test_a_readme_without_markers_or_missing_results_is_one_line(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(False)))
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    for args in (["--results", str(results), "--write", str(readme)], ["--results", str(tmp_path / "none.json")]):
        proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "readme_table.py"), *args],
                              capture_output=True, text=True)
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert readme.read_text() == "no markers here\n"


def test_readme_holds_the_table_of_the_committed_results():
    """README's table is the one bench/results.json gives: no hand-edited figure in it."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    table = readme_table.table(json.load(open(os.path.join(REPO, "bench", "results.json"))))
    assert f"{readme_table.START}\n{table}\n{readme_table.END}" in text
