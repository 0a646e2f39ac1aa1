"""Two "nodes" on this machine (network namespaces with their own addresses, host names and
sshd), driven through launch/train.sh from a third, head namespace, as on a real cluster.
Needs root, iproute2 and openssh-server; skipped with the reason otherwise."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from mxdl.errors import EXIT_STOPPED

from conftest import BIN, REPO, job_processes, start_job, wait_for_file, wait_gone, worker_pid

CLUSTER = os.path.join(REPO, "scripts", "netns_cluster.sh")
LAUNCH = os.path.join(REPO, "launch", "train.sh")
CONFIG = os.path.join(REPO, "configs", "digits.yaml")
HOSTS = "10.233.0.1:1,10.233.0.2:1"

pytestmark = [pytest.mark.slow, pytest.mark.long]


def _why_not():
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not shutil.which("ip") or not os.path.exists("/usr/sbin/sshd") or not shutil.which("unshare"):
        return "needs iproute2, util-linux unshare and openssh-server (sshd)"
    probe = subprocess.run(["ip", "netns", "add", "mxdl-probe"], capture_output=True)
    subprocess.run(["ip", "netns", "del", "mxdl-probe"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot create network namespaces: {probe.stderr.decode().strip()}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _why_not()
    if reason:
        pytest.skip(f"multi-node test not run on this machine: {reason}")
    state = str(tmp_path_factory.mktemp("cluster"))
    subprocess.run([CLUSTER, "up", state], check=True, capture_output=True)
    yield {"state": state, "path": os.pathsep.join([os.path.join(state, "bin"), BIN, os.environ["PATH"]])}
    subprocess.run([CLUSTER, "down", state], capture_output=True)


def on_head(cluster, run_dir, *args):
    cmd = ["ip", "netns", "exec", "mxdl-n0", "env", f"PATH={cluster['path']}", LAUNCH, CONFIG, "--hosts", HOSTS,
           "--nic", "mxdl0", "--output", run_dir, "train.log_interval=100000", *args]
    return start_job(cmd)


def test_two_nodes_train_through_the_launcher(cluster, digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = on_head(cluster, run_dir, f"data.dir={digits_rec}", "train.epochs=3")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert "10.233.0.1: ranks 0-0" in out and "10.233.0.2: ranks 1-1" in out
    assert "2 worker(s)" in out and "finished: validation accuracy" in out
    assert json.load(open(os.path.join(run_dir, "history.json")))["epochs"][-1]["val_acc"] > 0.9
    env = dict(l.split(" ", 1) for l in open(os.path.join(run_dir, "env.txt")).read().splitlines())
    assert env["workers"] == "2"


def test_ctrl_c_on_launcher_stops_both_nodes_with_a_checkpoint(cluster, digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = on_head(cluster, run_dir, f"data.dir={digits_rec}", "train.epochs=50", "data.batch_size=16")
    wait_for_file(os.path.join(run_dir, "history.json"), proc)
    workers = job_processes(run_dir, (b"mxdl.train.cli",))
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, out[-3000:]
    # a stop lands mid-epoch, or on an epoch's last step (then it is saved as that epoch's end)
    assert ("stopped after step" in out or "stopped at the end of epoch" in out) and "Resume with:" in out
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest"))
    wait_gone(workers)
    assert job_processes(run_dir, (b"mxdl.train.cli",)) == []


def test_a_lost_node_is_left_behind_and_the_job_finishes_on_the_survivor(cluster, digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = on_head(cluster, run_dir, f"data.dir={digits_rec}", "train.epochs=6", "data.batch_size=32",
                   "optim.lr=0.02", "checkpoint.every_epochs=1", "--max-restarts", "2", "--min-np", "1")
    history = os.path.join(run_dir, "history.json")
    wait_for_file(history, proc, 180, holds=lambda text: len(json.loads(text)["epochs"]) >= 2)
    # node 2 goes down: its sshd stops answering and its worker dies
    os.kill(int(open(os.path.join(cluster["state"], "sshd-2.pid")).read()), signal.SIGTERM)
    os.kill(worker_pid(1, run_dir), signal.SIGKILL)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:  # node 2 back (its sshd restarted) for the tests after this one
        subprocess.run([CLUSTER, "up", cluster["state"]], check=True, capture_output=True)
    assert proc.returncode == 0, out[-3000:]
    assert "lost 10.233.0.2 (no ssh); continuing on 10.233.0.1:1" in out
    assert "resuming a 2-worker checkpoint with 1 workers" in out
    epochs = json.load(open(history))["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(1, 7))
    sizes = [e["world_size"] for e in epochs]
    assert sizes[0] == 2 and sizes[-1] == 1


def test_a_sigkilled_launcher_leaves_nothing_running_on_any_node(cluster, digits_rec, tmp_path):
    """SIGKILL to the launcher on the head: the workers on both nodes see its heartbeat stop and end,
    their ssh sessions with them, then horovodrun; all within the 30 s bound."""
    run_dir = str(tmp_path / "run")
    proc = on_head(cluster, run_dir, f"data.dir={digits_rec}", "train.epochs=400", "data.batch_size=16")
    wait_for_file(os.path.join(run_dir, "history.json"), proc, 180)
    job = job_processes(run_dir)
    assert worker_pid(0, run_dir) and worker_pid(1, run_dir) and job_processes(run_dir, (b"horovodrun",)), job
    os.kill(proc.pid, signal.SIGKILL)   # `ip netns exec` became the launcher: this is the launcher alone
    t0 = time.time()
    wait_gone(job, timeout=40)
    assert time.time() - t0 <= 30 + 2 and job_processes(run_dir) == []
