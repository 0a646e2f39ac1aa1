"""A short seeded subset of bench/chaos.py: three faults on the emulated cluster, each trial ending
finished with every epoch once, or as a one-line failure whose re-run finishes, none hung."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.long]


def test_three_seeded_faults_all_end_right(tmp_path):
    sys.path.insert(0, REPO)
    from bench.chaos import why_not_here
    reason = why_not_here()
    if reason:
        pytest.skip(f"chaos trials not run here: {reason}")
    out = tmp_path / "chaos.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "chaos.py"), "--trials", "3", "--seed", "1",
                           "--faults", "rank_kill,launcher_kill,rank_stop", "--baselines", "2", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=1800)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]   # 1: a trial not "ok"
    rows = json.load(open(out))["rows"]
    assert [r["fault"] for r in rows] == ["rank_kill", "launcher_kill", "rank_stop"]
    for r in rows:   # each ends, every epoch once, checkpoints loading; accuracy near the fault-free run's
        assert r["outcome"] != "hung" and r["epochs_once"] and r["checkpoints_load"], r
        assert r["exit"] == 0 or r["rerun_exit"] == 0, r
        assert r["acc_within_1pt"] or abs(r["final_acc"] - r["baseline_acc"]) <= 0.03, r   # 360 images
    assert rows[2]["detect_s"] is not None and rows[2]["detect_s"] < 20 + 15   # the hang bound, plus a step
