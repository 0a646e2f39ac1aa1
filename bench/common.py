"""The benchmarks' shared report format, and the record of it that bench/run_all.py collects.

Every figure a benchmark prints through ``report`` or ``figure`` is also appended, as one JSON
line, to the file named by MXDL_BENCH_RECORD when it is set (run_all sets it per benchmark and
gathers the lines into bench/results.json, from which README's table is generated).
"""
import json
import os


def _record(entry):
    path = os.environ.get("MXDL_BENCH_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def report(title, rows, baseline):
    """Print rows of (name, images/s) and each one's ratio to the baseline row."""
    base = dict(rows)[baseline]
    print(f"\n{title}")
    for name, rate in rows:
        print(f"  {name:44s} {rate:10.1f} img/s   x{rate / base:.3f} of {baseline}")
    _record({"title": title, "baseline": baseline,
             "rows": [{"name": name, "images_per_sec": round(rate, 1), "ratio": round(rate / base, 3)}
                      for name, rate in rows]})


def figure(title, text, **values):
    """Print one line of figures that are not a table against a baseline (a start-up time, a
    share of a step), and record it with its values."""
    print(f"\n{title}: {text}")
    _record({"title": title, "text": text, "values": values})
