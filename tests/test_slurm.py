"""A real Slurm (Debian's slurmctld, slurmd and munge on this machine): submit, preempt, requeue, finish.

The digits job goes through launch/slurm.sbatch with two tasks on one node. USR1
to the batch shell (what ``#SBATCH --signal=B:USR1@N`` sends before a preemption
or the time limit) must stop every worker with a checkpoint, requeue the job, and
the requeued job must resume by itself and finish.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import BIN, REPO

pytestmark = [pytest.mark.slow, pytest.mark.long]
SCRIPT = os.path.join(REPO, "scripts", "slurm_local.sh")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if not shutil.which("slurmctld") and os.geteuid() != 0:
        pytest.skip("Slurm is not installed and installing it needs root")
    state = str(tmp_path_factory.mktemp("slurm"))
    start = subprocess.run([SCRIPT, "start", state], capture_output=True, text=True, timeout=600)
    if start.returncode != 0:
        pytest.skip(f"a local Slurm could not be started here: {(start.stderr or start.stdout).strip()[-300:]}")
    env = dict(os.environ, SLURM_CONF=os.path.join(state, "slurm.conf"), PATH=BIN + os.pathsep + os.environ["PATH"])
    yield env
    subprocess.run([SCRIPT, "stop", state], timeout=60)


def job_state(env, job):
    """(JobState, Restarts) from scontrol; (None, None) when the controller does not answer."""
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, env=env)
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    return fields.get("JobState"), fields.get("Restarts")


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("start", ["srun", "ssh"])
def test_usr1_checkpoints_requeues_and_the_requeued_job_finishes(slurm, digits_rec, tmp_path, start):
    """srun (the default: no ssh between nodes) and horovodrun's own start alike."""
    run, log = tmp_path / "run", tmp_path / "slurm.out"
    job = subprocess.run(
        ["sbatch", "--parsable", "--ntasks-per-node=2", "--output", str(log), "--chdir", REPO,
         f"--export=ALL,MXDL_START={start}",
         os.path.join(REPO, "launch", "slurm.sbatch"), "configs/digits.yaml", f"data.dir={digits_rec}",
         "--output", str(run), "train.epochs=6", "data.batch_size=32", "optim.lr=0.02",
         "checkpoint.every_epochs=1", "train.stop_check_interval=1"],
        capture_output=True, text=True, env=slurm, check=True).stdout.strip()
    wait_for(lambda: (run / "history.json").exists(), 180, "the first epoch")
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=slurm, check=True)
    wait_for(lambda: "requeueing job" in log.read_text(), 180, "the stop and the requeue")
    # Slurm holds a requeued job back until the old credential expires (AuthInfo=cred_expire,
    # 10 s in scripts/slurm_local.sh; 120 s by default).
    wait_for(lambda: job_state(slurm, job) == ("COMPLETED", "1"), 400, "the requeued job to finish")
    out = log.read_text()
    assert "launch/train.sh: stopped with a checkpoint (exit 75)" in out
    assert f"mxdl: job {job} (restart 1)" in out and "resumed from" in out
    assert (run / "outcome").read_text().strip() == "finished"
    epochs = json.load(open(run / "history.json"))["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
    assert all(e["world_size"] == 2 for e in epochs)
    assert ("workers started by srun" in out) == (start == "srun")
