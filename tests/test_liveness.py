"""One job per run directory (RUN/job.lock) and no job without its launcher (RUN/launcher.alive):
the lock's rules in one process, then (slow) the launcher SIGKILLed mid-run and second starts on a
run directory in use."""
import glob
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, REPO, job_processes, start_job, wait_for_file, wait_gone
from mxdl.errors import UserError
from mxdl.runs import liveness
from mxdl.runs.layout import lock_file

LAUNCH = os.path.join(REPO, "launch", "train.sh")
CONFIG = os.path.join(REPO, "configs", "digits.yaml")
ENV = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])


def holder(run_dir, **kw):
    record = {"host": socket.gethostname(), "pid": os.getpid(), "job": "another job", "started": "2026-12-02 04:00:00",
              **kw}
    with open(lock_file(run_dir), "w") as f:
        json.dump(record, f)


def test_a_live_holder_is_refused_in_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MXDL_JOB_ID", "this job")
    holder(tmp_path, pid=os.getpid())   # this very process: alive
    with pytest.raises(UserError, match=r"is in use by the job started 2026-12-02 04:00:00 on .* \(pid \d+; another job\)"):
        liveness.JobLock(str(tmp_path)).acquire()


@pytest.mark.parametrize("record, why", [
    ({"pid": 2 ** 22 + 17}, "no longer runs on"),                    # a dead pid on this host
    ({"job": "this job"}, "this job's own earlier start"),         # the same launcher restarting
    ({"host": "elsewhere", "age": liveness.STALE_S + 5}, "heartbeat stopped"),
])
def test_a_stale_lock_is_taken_over_with_a_log_line(tmp_path, monkeypatch, record, why):
    monkeypatch.setenv("MXDL_JOB_ID", "this job")
    age = record.pop("age", 0)
    holder(tmp_path, **record)
    if age:
        os.utime(lock_file(tmp_path), (time.time() - age, time.time() - age))
    said = []
    lock = liveness.JobLock(str(tmp_path)).acquire(log=said.append)
    assert len(said) == 1 and why in said[0] and "taking over" in said[0]
    assert json.load(open(lock_file(tmp_path)))["pid"] == os.getpid()
    lock.release()
    assert not os.path.exists(lock_file(tmp_path))


def test_a_holder_elsewhere_with_a_fresh_heartbeat_is_live(tmp_path, monkeypatch):
    monkeypatch.setenv("MXDL_JOB_ID", "this job")
    holder(tmp_path, host="elsewhere", pid=1)
    with pytest.raises(UserError, match="on elsewhere"):
        liveness.check_free(str(tmp_path))


def test_workers_see_a_stopped_heartbeat_and_only_a_visible_one(tmp_path):
    beat = tmp_path / "launcher.alive"
    assert liveness.watch_launcher(str(beat), lambda s: None) is None   # not visible here: not watched
    beat.write_text("")
    gone = []
    thread = liveness.watch_launcher(str(beat), gone.append, every=0.05, gone_s=0.5)
    for _ in range(10):   # a live launcher: touched in time, nothing happens
        os.utime(beat)
        time.sleep(0.1)
    assert gone == []
    thread.join(timeout=5)
    assert len(gone) == 1 and gone[0] > 0.5


def _launcher(run_dir, *args):
    return start_job([LAUNCH, CONFIG, "--output", run_dir, "train.log_interval=100000", *args], env=ENV)


@pytest.mark.slow
@pytest.mark.long   # 75 s (two launches and a 30 s heartbeat timeout): the longest test of make test
def test_a_sigkilled_launcher_leaves_no_job_and_a_second_start_is_refused_while_it_runs(digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = _launcher(run_dir, "--np", "2", f"data.dir={digits_rec}", "train.epochs=400", "data.batch_size=16")
    wait_for_file(os.path.join(run_dir, "history.json"), proc, 180)
    second = subprocess.run([LAUNCH, CONFIG, "--np", "2", "--output", run_dir, f"data.dir={digits_rec}"],
                            capture_output=True, text=True, cwd=REPO, env=ENV, timeout=120)
    assert second.returncode == 2 and "is in use by the job started" in second.stderr, second.stderr
    alone = subprocess.run([os.path.join(BIN, "mxdl-train"), CONFIG, "--output", run_dir, f"data.dir={digits_rec}"],
                           capture_output=True, text=True, cwd=REPO, env=ENV, timeout=120)
    assert alone.returncode == 2 and len(alone.stderr.strip().splitlines()) == 1, alone.stderr
    assert "is in use by the job started" in alone.stderr
    job = job_processes(run_dir)
    assert len(job) >= 3   # horovodrun and its two workers
    os.kill(proc.pid, signal.SIGKILL)   # the launcher alone, as the OOM killer takes it
    t0 = time.time()
    wait_gone(job, timeout=40)
    assert time.time() - t0 <= 30 + 2
    logs = [os.path.join(run_dir, "train.log")] + glob.glob(os.path.join(run_dir, "logs", "rank-*.log"))
    assert any("the launcher is gone (no heartbeat for" in open(log).read() for log in logs)   # the first to see it
    # the same command again finishes: rank 0 released the lock as it failed, or left it stale (its pid
    # gone) for the new job to take over (the takeover line itself is tested above, in one process)
    again = subprocess.run([LAUNCH, CONFIG, "--np", "2", "--output", run_dir, f"data.dir={digits_rec}",
                            "train.epochs=1", "--fresh"], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert not os.path.exists(lock_file(run_dir))   # released at the end
