"""launch/train.sh: dry-run layouts, preflight, and (slow) real 2-worker Horovod jobs on CPU:
accuracy, ctrl+c through the launcher, a worker killed mid-epoch, restart from checkpoint."""
import glob
import json
import os
import signal
import time

import pytest

from mxdl.errors import EXIT_STOPPED

from conftest import BIN, REPO, run_cli, start_job, wait_for_file, wait_gone, worker_pid

LAUNCH = os.path.join(REPO, "launch", "train.sh")
CONFIG = os.path.join(REPO, "configs", "digits.yaml")
ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}


def launch(*args, check=True, timeout=600):
    return run_cli(LAUNCH, CONFIG, *args, check=check, timeout=timeout)


@pytest.mark.slow
def test_what_can_be_known_before_the_workers_start_is_refused_before(digits_rec, trained, tmp_path):
    """A missing --resume-from epoch or model.init_from: one line, exit 2, and no horovodrun started."""
    proc = launch("--np", "2", f"data.dir={digits_rec}", "--output", trained, "--resume-from", "7", check=False)
    assert proc.returncode == 2 and "+ horovodrun" not in proc.stdout, proc.stdout
    assert "no checkpoint for the end of epoch 7" in proc.stderr and "epochs available: " in proc.stderr
    proc = launch("--np", "2", f"data.dir={digits_rec}", f"model.init_from={tmp_path}/nothing.params",
                  "--output", str(tmp_path / "run"), check=False)
    assert proc.returncode == 2 and "+ horovodrun" not in proc.stdout
    assert "model.init_from: no parameters found" in proc.stderr


def test_the_launchers_help_explains_every_option_it_takes():
    import re
    script = open(LAUNCH).read()
    parser = script[script.index('while [ $# -gt 0 ]; do'):script.index("\ndone\n")]
    taken = set(re.findall(r"(--[a-z0-9-]+)", " ".join(re.findall(r"^\s+([-|a-z0-9]+)\)", parser, re.M))))
    assert {"--np", "--hosts", "--resume-from", "--max-restarts", "--dry-run"} <= taken  # the parse is read
    for command in (LAUNCH, os.path.join(BIN, "mxdl-launch")):
        shown = run_cli(command, "--help").stdout
        described = set(re.findall(r"^  (?:-h, )?(--[a-z0-9-]+)", shown, re.M))
        assert taken == described, (taken ^ described, command)
        assert "exit codes: 0 finished; 1 failed; 2 usage" in shown and "75 stopped" in shown


@pytest.mark.slow
def test_dry_run_layouts(tmp_path):
    out = launch("--np", "4", "--hosts", "node1:2,node2:2", "--dry-run").stdout
    assert "node1: ranks 0-1" in out and "node2: ranks 2-3" in out
    assert "command: horovodrun -np 4 --gloo --start-timeout 60 -H node1:2,node2:2" in out
    assert "-m mxdl.train.cli" in out
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# cluster\nnode1 slots=4\nnode2 slots=4\n")
    out = launch("--hostfile", str(hostfile), "--resume-from", "40", "optim.lr=1e-4", "--dry-run").stdout
    assert "8 worker(s)" in out and "node2: ranks 4-7" in out
    assert out.strip().endswith("optim.lr=1e-4 --resume-from 40")
    out = launch("--np", "2", "--dry-run").stdout
    assert "localhost: ranks 0-1" in out and "compute + 1 decode thread(s) per worker" in out
    out = launch("--np", "2", "--timeline", "t.json", "--cycle-time-ms", "2.5", "--hierarchical-allreduce",
                 "--dry-run").stdout
    assert "--timeline-filename t.json --cycle-time-ms 2.5 --hierarchical-allreduce" in out
    bad = launch("--cycle-time-ms", "fast", "--dry-run", check=False)
    assert bad.returncode == 2 and "--cycle-time-ms takes a number, got 'fast'" in bad.stderr
    bad = launch("--np", "5", "--hosts", "a:2,b:2", "--dry-run", check=False)
    assert bad.returncode == 2 and "more than the 4 slots" in bad.stderr
    bad = launch("--bogus", check=False)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


@pytest.mark.parametrize("args,message", [
    (["--np"], "--np needs a number"),
    (["--output", "--dry-run"], "--output needs a directory"),
    (["--resume", "--fresh"], "give one of --resume, --resume-from and --fresh"),
    (["--stop-grace", "abc"], "--stop-grace must be a whole number of seconds, got 'abc'"),
    (["--np", "0"], "--np must be a positive number, got '0'"),
])
def test_usage_errors_exit_2_in_one_line(args, message):
    proc = launch(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_layout_inside_a_slurm_allocation(tmp_path):
    slurm = {"SLURM_JOB_ID": "77", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_TASKS_PER_NODE": "4(x2)", "SLURM_NTASKS": "8"}
    out = run_cli(LAUNCH, CONFIG, "--dry-run", env=slurm).stdout
    assert "Slurm allocation 77: hosts gpu07:4,gpu08:4" in out
    assert "horovodrun -np 8 --gloo --start-timeout 60 -H gpu07:4,gpu08:4" in out and "gpu08: ranks 4-7" in out
    bad = run_cli(LAUNCH, CONFIG, "--dry-run", env={**slurm, "SLURM_NTASKS": "6"}, check=False)
    assert bad.returncode == 2 and "SLURM_NTASKS is 6 but the tasks per node add up to 8" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_an_nvidia_smi_that_lists_no_gpu_means_cpu(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (fake / "nvidia-smi").chmod(0o755)
    proc = run_cli(LAUNCH, CONFIG, "--dry-run", env={"PATH": f"{fake}{os.pathsep}{ENV['PATH']}"})
    assert "on this node, CPU: " in proc.stdout and "localhost: ranks 0-0" in proc.stdout
    assert "integer" not in proc.stderr


@pytest.mark.slow
def test_preflight_names_each_problem(tmp_path):
    proc = launch("--np", "2", "--hosts", "localhost:1,unreachable.invalid:1", f"data.dir={tmp_path}/none",
                  "--output", str(tmp_path / "run"), "--timeline", "/proc/timeline.json", check=False)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("preflight:")]
    assert any(l.startswith("preflight: data.dir:") and "none does not exist" in l for l in lines), lines
    assert any("host unreachable.invalid does not answer passwordless ssh" in l for l in lines), lines
    assert any(l.startswith("preflight: --timeline /proc/timeline.json: cannot write in /proc") for l in lines), lines
    assert "Traceback" not in proc.stderr


def start_launcher(run_dir, *args, env=None):
    cmd = [LAUNCH, CONFIG, "--np", "2", "--output", run_dir, "train.log_interval=100000", *args]
    return start_job(cmd, env=dict(os.environ, **ENV, **(env or {})))


def wait_for_log(run_dir, proc, text, timeout=120):
    wait_for_file(os.path.join(run_dir, "train.log"), proc, timeout, holds=lambda log: text in log)


def wait_for_first_epoch(run_dir, proc, timeout=120):
    wait_for_log(run_dir, proc, "epoch 1/", timeout)


@pytest.mark.slow
def test_two_workers_train_digits(digits_rec, tmp_path):
    """With Horovod's tuning on: float16 gradients in the allreduce, a fusion buffer, a timeline."""
    run_dir = str(tmp_path / "run")
    timeline = tmp_path / "timeline.json"
    proc = launch("--np", "2", f"data.dir={digits_rec}", "train.epochs=6", "--output", run_dir,
                  "horovod.fp16_allreduce=true", "--fusion-threshold-mb", "32", "--timeline", str(timeline))
    assert "2 worker(s)" in proc.stdout
    # a quiet terminal: rank 0's lines without horovodrun's prefix, no C++ log, about a line an epoch
    lines = (proc.stdout + proc.stderr).splitlines()
    assert not [line for line in lines if "<stdout>" in line or "<stderr>" in line or ".cc:" in line], lines
    training = lines[next(i for i, line in enumerate(lines) if line.startswith("epoch 1/")):]
    assert len(training) <= 2 * 6 + 2, training  # 6 epochs, then the export and the final line
    assert "allreduce" in timeline.read_text().lower()
    history = json.load(open(os.path.join(run_dir, "history.json")))["epochs"]
    assert history[-1]["val_acc"] >= 0.90
    assert "finished: validation accuracy" in proc.stdout
    assert not glob.glob(os.path.join(run_dir, "logs", "rank-1.log")) or \
        "epoch" not in open(os.path.join(run_dir, "logs", "rank-1.log")).read()


@pytest.mark.slow
def test_ctrl_c_on_launcher_saves_and_all_workers_exit(digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = start_launcher(run_dir, f"data.dir={digits_rec}", "train.epochs=40", "data.batch_size=16")
    wait_for_first_epoch(run_dir, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on ctrl+c
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, out
    # a stop lands mid-epoch, or on an epoch's last step (then it is saved as that epoch's end)
    assert ("stopped after step" in out or "stopped at the end of epoch" in out) and "Resume with:" in out
    assert "resume with: mxdl-train" not in out  # one hint, the launcher's, with its hosts and workers
    assert worker_pid(0, run_dir) is None and worker_pid(1, run_dir) is None
    latest = open(os.path.join(run_dir, "checkpoints", "latest")).read().strip()
    resumed = launch("--np", "2", f"data.dir={digits_rec}", "train.epochs=3", "data.batch_size=16",
                     "train.log_interval=100000", "--output", run_dir, "--resume")
    assert f"resumed from {os.path.join(run_dir, 'checkpoints', latest)}" in resumed.stdout
    assert "finished" in resumed.stdout


@pytest.mark.slow
@pytest.mark.long
def test_second_ctrl_c_ends_everything_quickly(digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    # MiniVGGNet at batch 1 with a stop check only at epoch ends: an epoch takes seconds, so
    # the second press lands while the workers are still on their way to the coordinated stop
    proc = start_launcher(run_dir, f"data.dir={digits_rec}", "train.epochs=40", "data.batch_size=1",
                          "model.name=minivggnet", "train.stop_check_interval=100000", "--stop-grace", "300",
                          "train.log_interval=20")
    wait_for_log(run_dir, proc, "epoch 1 [20/")  # training, with most of a 719-step epoch still to go
    workers = [worker_pid(0, run_dir), worker_pid(1, run_dir)]
    os.killpg(proc.pid, signal.SIGINT)
    wait_for_file(os.path.join(run_dir, "STOP"), proc)  # the first press is taken: the second means "now"
    time.sleep(1.0)  # a person's second press, not a wait: presses within one 0.5 s poll of the launcher
    os.killpg(proc.pid, signal.SIGINT)  # were seen to arrive as one under load
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "second interrupt" in out
    wait_gone(workers, timeout=30)


@pytest.mark.slow
@pytest.mark.long
def test_killed_worker_ends_job_and_restart_resumes(digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    args = (f"data.dir={digits_rec}", "train.epochs=4", "checkpoint.every_epochs=1")
    proc = start_launcher(run_dir, *args)
    wait_for_file(os.path.join(run_dir, "checkpoints", "latest"), proc)
    os.kill(worker_pid(1, run_dir), signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "rank 1 failed first with exit code 137" in out
    assert worker_pid(0, run_dir) is None

    # the restarted job trains to epoch 6; the second kill lands once it has added an epoch, mid-run
    done = len(json.load(open(os.path.join(run_dir, "history.json")))["epochs"])
    proc = start_launcher(run_dir, *args, "train.epochs=6", "--max-restarts", "1")
    wait_for_file(os.path.join(run_dir, "history.json"), proc, holds=lambda text: len(json.loads(text)["epochs"]) > done)
    victim = worker_pid(1, run_dir)
    assert victim is not None, "the resumed job's rank 1 is not running"
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert "restart 1 of 1 from the latest checkpoint" in out
    assert "resumed from" in out and "finished" in out
    assert [e["epoch"] for e in json.load(open(os.path.join(run_dir, "history.json")))["epochs"]] == list(range(1, 7))


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1])
def test_hup_and_usr1_stop_with_a_checkpoint_like_ctrl_c(digits_rec, tmp_path, sig):
    run_dir = str(tmp_path / "run")
    proc = start_launcher(run_dir, f"data.dir={digits_rec}", "train.epochs=30", "data.batch_size=16")
    wait_for_first_epoch(run_dir, proc)
    os.kill(proc.pid, sig)  # the launcher alone, as a closed terminal or Slurm's batch signal reaches it
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, out[-3000:]
    assert f"Resume with: {LAUNCH} {CONFIG} --np 2 --resume --output {run_dir}" in out
    assert open(os.path.join(run_dir, "outcome")).read().strip() == "stopped"


@pytest.mark.slow
@pytest.mark.long
def test_a_stop_that_overruns_its_grace_fails_and_says_so(digits_rec, tmp_path):
    run_dir = str(tmp_path / "run")
    proc = start_launcher(run_dir, f"data.dir={digits_rec}", "train.epochs=30", "data.batch_size=16",
                          "train.stop_check_interval=100000", "--stop-grace", "1")
    wait_for_first_epoch(run_dir, proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out[-3000:]
    assert "the stop overran --stop-grace (1s) and the workers were killed" in out
    assert worker_pid(0, run_dir) is None and worker_pid(1, run_dir) is None


def _worker(rank, text):
    return f"[{rank}]<stderr>:{text}\n"


def test_the_rank_that_stopped_responding_is_named_not_the_first_to_time_out():
    from mxdl.joblog import diagnose
    timeout = "[gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 30000ms for recv operation to complete"
    # 64 workers, rank 37 stopped: the others time out in turn and rank 12 exits first
    lines = [_worker(r, "epoch 3 [10/90] loss 0.5") for r in range(64)]
    lines += [_worker(r, timeout) for r in range(64) if r != 37]
    lines += ["Process 12 exit with status code 1.\n", "Process 37 exit with status code 137.\n"]
    rank, why = diagnose(lines, 64)
    assert rank == 37 and why.startswith("rank 37 stopped responding: ranks 0, 1, 2") and "36, 38" in why
    # a plain crash still names the rank that failed first
    lines = [_worker(5, "MemoryError"), "Process 5 exit with status code 1.\n", "Process 0 exit with status code 1.\n"]
    assert diagnose(lines, 64) == (5, "rank 5 failed first with exit code 1")
    assert "out-of-memory" in diagnose(["Process 3 exit with status code 137.\n"], 8)[1]
    assert diagnose([], 8) == (None, "no worker reported its exit")


def test_horovodruns_closing_traceback_is_kept_from_the_terminal_only():
    import io
    from mxdl.joblog import filter_stream
    closing = ["Traceback (most recent call last):\n", '  File "horovodrun", line 8, in <module>\n',
               "RuntimeError: Horovod detected that one or more processes exited with non-zero status\n",
               "Process name: 0\n"]
    worker_traceback = [_worker(0, "Traceback (most recent call last):"), _worker(0, "ValueError: x")]
    other = ["Traceback (most recent call last):\n", "OSError: no such host\n"]
    as_shown = ["Traceback (most recent call last):\n", "ValueError: x\n"]  # rank 0's lines, unprefixed
    for stream, shown in ((worker_traceback + closing, as_shown), (other + worker_traceback, other + as_shown)):
        out = io.StringIO()
        filter_stream(iter(stream), out)
        assert out.getvalue() == "".join(shown)


def test_the_terminal_shows_rank_0_plainly_and_no_cxx_log():
    import io
    from mxdl.joblog import filter_stream
    stream = [_worker(0, "[01:02:03] src/io/iter_image_recordio_2.cc:830: Create ImageRecordIter2 optimized"),
              _worker(1, "[01:02:03] src/io/iter_image_recordio_2.cc:830: Create ImageRecordIter2 optimized"),
              _worker(0, "epoch 1/20 lr 0.05 | train loss 1.2"), _worker(1, "epoch 1/20 lr 0.05 | train loss 1.2"),
              _worker(1, "error: shard train-00001.rec: record 3 is damaged"), "+ horovodrun -np 2\n"]
    out = io.StringIO()
    filter_stream(iter(stream), out)
    assert out.getvalue() == ("epoch 1/20 lr 0.05 | train loss 1.2\n"
                              "[rank 1] error: shard train-00001.rec: record 3 is damaged\n+ horovodrun -np 2\n")


def _raised_while_handling(first, then):
    try:
        try:
            raise first
        finally:
            raise then   # cleanup that fails in turn, as a device read does once Horovod is gone
    except Exception as err:
        return err


def test_the_error_that_ended_a_worker_is_the_first_in_the_chain_not_cleanups():
    """A damaged record, then the trainer's cleanup reading the device after the other worker had ended:
    "Connection reset by peer" with a traceback, 3 runs in 5 of the launcher test, instead of the
    record's line and exit 2."""
    from mxdl.errors import (EXIT_FAILED, EXIT_USAGE, PEER_ENDED, DamagedData, UserError, how_it_ended)
    damaged = DamagedData("shard a.rec: record 5 is damaged", "run mxdl-pack verify")
    def reset():
        return RuntimeError("MXNetError: Connection reset by peer")
    assert how_it_ended(_raised_while_handling(damaged, reset())) == (f"error: {damaged}", EXIT_USAGE, True)
    shut = RuntimeError("MXNetError: Horovod has been shut down. This was caused by an exception on one of the ranks")
    assert how_it_ended(_raised_while_handling(shut, reset())) == (f"error: {PEER_ENDED}", EXIT_FAILED, False)
    assert how_it_ended(reset()) is None   # a failure of its own, no error of mxdl's: a bug keeps its traceback
    try:
        try:
            raise ValueError("parsing")
        except ValueError:
            raise UserError("bad value") from None
    except UserError as err:
        assert how_it_ended(err) == ("error: bad value", EXIT_USAGE, False)


def test_a_worker_ended_by_the_first_ones_failure_is_not_blamed_nor_its_stop_shown():
    """The first worker to fail exits at once and horovodrun ends the rest with SIGTERM, which they
    take as a stop request. A follower can still win the race to exit; it said so, so it is passed
    over. Its "stopping ... saving a checkpoint" would promise a checkpoint the teardown never writes."""
    import io
    from mxdl.errors import PEER_ENDED
    from mxdl.joblog import diagnose, filter_stream
    log = [_worker(1, "error: shard train-00001.rec: record 3 is damaged"), _worker(0, f"error: {PEER_ENDED}"),
           "Process 0 exit with status code 1.\n", "Terminating remaining workers after failure of Process 0.\n",
           _worker(1, "SIGTERM received: stopping at the next check step (every 10 steps)"),
           "Process 1 exit with status code 2.\n"]
    assert diagnose(log, 2) == (1, "rank 1 failed first with exit code 2")
    assert diagnose(log[2:], 2)[0] == 0   # no follower's word: the first to end is blamed, as before
    out = io.StringIO()
    filter_stream(iter([_worker(0, "SIGTERM received: stopping at the next check step"),
                        "Terminating remaining workers after failure of Process 1.\n",
                        _worker(0, "SIGTERM received: stopping at the next check step")]), out)
    assert out.getvalue().count("SIGTERM received") == 1   # a stop asked before the teardown is still shown


@pytest.mark.slow
@pytest.mark.long
def test_a_stopped_worker_is_named_by_the_launcher(digits_rec, tmp_path):
    """SIGSTOP on rank 1: rank 0 times out in Gloo and exits first; the launcher must blame rank 1."""
    run_dir = str(tmp_path / "run")
    proc = start_launcher(run_dir, f"data.dir={digits_rec}", "train.epochs=50", "--hang-timeout", "10")
    wait_for_first_epoch(run_dir, proc)
    stopped = worker_pid(1, run_dir)
    os.kill(stopped, signal.SIGSTOP)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if worker_pid(1, run_dir) == stopped:
            os.kill(stopped, signal.SIGKILL)
    assert proc.returncode == 1
    assert "hang bound: a worker silent for 10s ends the job (--hang-timeout)" in out
    assert "rank 1 stopped responding: rank 0 timed out waiting for it" in out, out[-3000:]
    assert "RuntimeError: Horovod detected" not in out  # horovodrun's traceback stays in launch.log
    assert "RuntimeError: Horovod detected" in open(os.path.join(run_dir, "launch.log")).read()


@pytest.mark.slow
@pytest.mark.parametrize("args, code, said", [
    (("train.accumulate=1000",), 2, "a worker refused its input (the error above); not restarted"),
    (("optim.lr=1e30",), 1, "the run failed by itself, not by a crash; not restarted"),
])
def test_deterministic_failures_are_not_restarted(digits_rec, tmp_path, args, code, said):
    """A usage error a worker finds (after the preflight) and a diverged loss would fail the same way
    again: --max-restarts leaves them alone, and a usage error keeps its exit code 2."""
    proc = launch("--np", "2", f"data.dir={digits_rec}", "--output", str(tmp_path / "run"), "train.epochs=2",
                  "--max-restarts", "2", *args, check=False)
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert said in proc.stderr and "restart 1 of 2" not in proc.stderr, proc.stderr
