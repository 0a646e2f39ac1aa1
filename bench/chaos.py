"""A seeded chaos harness: the digits job on the emulated cluster (scripts/netns_cluster.sh, 3 nodes
of one worker each), through launch/train.sh with --max-restarts, with one fault per trial at a
random, seeded moment. Each trial records the fault, when it struck, how long the job took to
notice (the launcher's first failure line) and to recover (its restart line), and the outcome:

- finished: history.json holds every epoch exactly once and the final accuracy is within 1 point
  of a fault-free run;
- or a one-line failure whose last good checkpoint loads, after which the same command finishes.

No trial may run past its bound, and every checkpoint left must load.

    sudo python bench/chaos.py [--trials 30] [--seed 0] [--faults all|rank_kill,...] [--json FILE]

Needs root and network namespaces (it says which is missing). Faults: rank_kill, rank_stop,
link_down (10-60 s), bandwidth_collapse (1 Mbit/s for 30 s), sshd_kill, ctrl_c_at_checkpoint,
launcher_kill (then the same command again), full_disk (the run directory's small tmpfs filled,
freed 20-40 s later, as an operator would), damaged_record (bytes of one record in the trial's copy
of the shards overwritten; the re-run gets the shards back, as from a re-pack).
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLUSTER = os.path.join(REPO, "scripts", "netns_cluster.sh")
LAUNCH = os.path.join(REPO, "launch", "train.sh")
CONFIG = os.path.join(REPO, "configs", "digits.yaml")
NODES = 3
HOSTS = ",".join(f"10.233.0.{n}:1" for n in range(1, NODES + 1))
EPOCHS = 8
BOUND_S = 420          # a trial still running after this long has hung
FAULTS = ("rank_kill", "rank_stop", "link_down", "bandwidth_collapse", "sshd_kill", "ctrl_c_at_checkpoint",
          "launcher_kill", "full_disk", "damaged_record")
DISK_MB = 48           # the small disk a full_disk trial runs on: room for a digits run and its checkpoints


def why_not_here():
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc, sshd)"
    probe = subprocess.run(["ip", "netns", "add", "mxdl-chaos-probe"], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", "mxdl-chaos-probe"], capture_output=True)
    if probe.returncode:
        return f"cannot create network namespaces: {probe.stderr.strip()}"
    if not os.path.exists("/usr/sbin/sshd"):
        return "needs openssh-server (sshd) for the emulated nodes"
    return None


class Job:
    """One launch/train.sh run on the head node, its output timestamped line by line."""

    def __init__(self, state, shards, run_dir, extra=()):
        path = os.pathsep.join([os.path.join(state, "bin"), os.path.dirname(sys.executable), os.environ["PATH"]])
        self.cmd = ["ip", "netns", "exec", "mxdl-n0", "env", f"PATH={path}", LAUNCH, CONFIG, "--hosts", HOSTS,
                    "--output", run_dir, f"data.dir={shards}", f"train.epochs={EPOCHS}", "checkpoint.every_epochs=1",
                    "data.batch_size=32", "optim.lr=0.02", "train.log_interval=100000", "--max-restarts", "3",
                    "--min-np", "1", "--hang-timeout", "20", *extra]
        self.run_dir, self.lines = run_dir, []

    def start(self):
        import threading
        self.t0 = time.time()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=REPO, start_new_session=True, preexec_fn=_interruptible)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip()))

    def wait(self, bound):
        try:
            return self.proc.wait(timeout=max(0.0, bound))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return None

    def first(self, text, after=0.0):
        return next((t for t, line in self.lines if text in line and t >= after), None)


def _interruptible():
    """ctrl+c as a terminal delivers it: a harness started in the background (nohup ... &) passes on
    an ignored SIGINT, and bash cannot trap a signal ignored at its start."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _worker_pids(run_dir):
    pids = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = open(d + "/cmdline", "rb").read()
            env = open(d + "/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"mxdl.train.cli" in cmd and run_dir.encode() in cmd:
            rank = [e for e in env if e.startswith(b"HOROVOD_RANK=")]
            if rank:
                pids[int(rank[0].split(b"=")[1])] = int(d[len("/proc/"):])
    return pids


def _wait_for(predicate, job, seconds=240):
    deadline = time.time() + seconds
    while time.time() < deadline and job.proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _epochs_done(run_dir):
    try:
        return len(json.load(open(os.path.join(run_dir, "history.json")))["epochs"])
    except (OSError, ValueError, KeyError):
        return 0


# ---- the faults: each returns what it did, and undoes itself (or leaves a way back) ------------

def fault_rank_kill(ctx, rng):
    rank, pid = rng.choice(sorted(_worker_pids(ctx["run"]).items()))
    os.kill(pid, signal.SIGKILL)
    return f"SIGKILL rank {rank}"


def fault_rank_stop(ctx, rng):
    rank, pid = rng.choice(sorted(_worker_pids(ctx["run"]).items()))
    os.kill(pid, signal.SIGSTOP)
    ctx["cleanup"].append(lambda: _kill_quietly(pid))
    return f"SIGSTOP rank {rank}"


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def fault_link_down(ctx, rng):
    node, seconds = rng.randint(1, NODES), rng.randint(10, 60)
    subprocess.run(["ip", "-n", f"mxdl-n{node}", "link", "set", "mxdl0", "down"], check=True)
    ctx["later"].append((time.time() + seconds, lambda: subprocess.run(
        ["ip", "-n", f"mxdl-n{node}", "link", "set", "mxdl0", "up"], check=True)))
    return f"node{node} link down {seconds} s"


def fault_bandwidth_collapse(ctx, rng):
    subprocess.run([CLUSTER, "rate", ctx["state"], "1mbit"], check=True, capture_output=True)
    ctx["later"].append((time.time() + 30, lambda: subprocess.run([CLUSTER, "rate", ctx["state"], "off"],
                                                                   check=True, capture_output=True)))
    return "links at 1 Mbit/s for 30 s"


def fault_sshd_kill(ctx, rng):
    node = rng.randint(2, NODES)   # node1 holds rank 0 and the run's checkpoints are on shared storage
    os.kill(int(open(os.path.join(ctx["state"], f"sshd-{node}.pid")).read()), signal.SIGTERM)
    ranks = [r for r, _ in sorted(_worker_pids(ctx["run"]).items()) if r == node - 1]
    for rank in ranks:   # its node going away takes its worker with it
        _kill_quietly(_worker_pids(ctx["run"])[rank])
    ctx["restart_cluster"] = True
    return f"node{node} sshd killed (and its worker)"


def fault_ctrl_c_at_checkpoint(ctx, rng):
    """ctrl+c the moment an epoch ends (history.json grows), when its checkpoint is being written; an
    epoch before the last, or the stop would find the run already finished."""
    done = min(_epochs_done(ctx["run"]), EPOCHS - 2)
    _wait_for(lambda: _epochs_done(ctx["run"]) > done, ctx["job"], 120)
    os.killpg(ctx["job"].proc.pid, signal.SIGINT)
    return "ctrl+c as an epoch ended and its checkpoint was written"


def fault_launcher_kill(ctx, rng):
    os.killpg(ctx["job"].proc.pid, signal.SIGKILL)   # the launcher and its pipes; its job's workers live on
    ctx["rerun_now"] = True
    return "launcher SIGKILLed, then the same command again"


def fault_full_disk(ctx, rng):
    """Fill the run directory's file system to its last byte; free it 20-40 s later."""
    filler, seconds = os.path.join(ctx["run"], "filler"), rng.randint(20, 40)
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # ends at ENOSPC
    ctx["later"].append((time.time() + seconds, lambda: os.remove(filler)))
    return f"run directory's disk full for {seconds} s"


def fault_damaged_record(ctx, rng):
    """Overwrite 64 bytes inside one training record with noise; the shards come back before the re-run."""
    shard = rng.choice(sorted(glob.glob(os.path.join(ctx["shards"], "train-*.rec"))))
    offsets = [int(line.split("\t")[1]) for line in open(shard[:-len(".rec")] + ".idx")]
    record = rng.randrange(len(offsets))
    original = open(shard, "rb").read()
    with open(shard, "r+b") as f:
        f.seek(offsets[record] + 8 + 24 + rng.randrange(16))  # past RecordIO's and the image's headers
        f.write(bytes(rng.randrange(256) for _ in range(64)))
    ctx["later"].append((float("inf"), lambda: open(shard, "wb").write(original)))  # at the trial's end
    return f"record {record} of {os.path.basename(shard)} damaged"


# ---- one trial ------------------------------------------------------------------------------------

def checkpoints_load(run_dir):
    """Every checkpoint left in the run loads (its weights and its meta)."""
    import mxnet as mx
    for folder in glob.glob(os.path.join(run_dir, "checkpoints", "epoch-*")):
        mx.nd.load(os.path.join(folder, "model.params"))
        json.load(open(os.path.join(folder, "meta.json")))
    return True


def judge(run_dir, baselines):
    """{epochs_once, final_acc, acc_within_1pt}: every epoch once, and the final accuracy within a
    point of a fault-free run's (the nearest: with 3 workers, fault-free runs themselves differ, as
    Horovod fuses tensors as they become ready and a 3-way sum's rounding depends on where a value
    falls in the fused buffer; on the digits' 360 validation images a point is under 4 images)."""
    epochs = json.load(open(os.path.join(run_dir, "history.json")))["epochs"]
    acc = epochs[-1].get("val_acc") or 0.0
    nearest = min(baselines, key=lambda b: abs(acc - b))
    return {"epochs_once": [e["epoch"] for e in epochs] == list(range(1, EPOCHS + 1)), "final_acc": acc,
            "baseline_acc": nearest, "acc_within_1pt": abs(acc - nearest) <= 0.01}


def _run_pending(ctx, final=False):
    for when, action in list(ctx["later"]):
        if final or time.time() >= when:
            action()
            ctx["later"].remove((when, action))


def _strike(ctx, fault, rng):
    job = ctx["job"]
    if not _wait_for(lambda: _epochs_done(ctx["run"]) >= 1, job):
        return None, None
    time.sleep(rng.uniform(0, 8))
    struck = time.time()
    return struck, globals()[f"fault_{fault}"](ctx, rng)


def _follow(ctx):
    job = ctx["job"]
    while job.proc.poll() is None and time.time() - job.t0 < BOUND_S and not ctx.get("rerun_now"):
        _run_pending(ctx)
        time.sleep(0.2)
    code = job.wait(10 if ctx.get("rerun_now") else BOUND_S - (time.time() - job.t0))
    _run_pending(ctx, final=True)
    return code


def _again(ctx, shards, resume):
    """The same command (with --resume after a requested stop) until it is not refused for a lock
    still held by a job that is ending (at most 40 s: the orphans' bound is 30 s)."""
    deadline = time.time() + 40
    while True:
        job = Job(ctx["state"], shards, ctx["run"], ["--resume"] if resume else []).start()
        code = job.wait(BOUND_S)
        if code != 2 or time.time() > deadline or not job.first("is in use by"):
            return code, job
        time.sleep(5)


def trial(number, fault, rng, state, shards, baselines):
    # a full disk strikes the small tmpfs mounted before the nodes started (mounts made later do not
    # reach their sshd); a damaged record strikes a copy of the shards, never the shared ones
    run = tempfile.mkdtemp(prefix=f"mxdl-chaos-{number:02d}-", dir=_small_disk(state) if fault == "full_disk" else None)
    if fault == "damaged_record":
        shards = shutil.copytree(shards, run + "-shards")
    ctx = {"state": state, "run": run, "shards": shards, "later": [], "cleanup": []}
    ctx["job"] = Job(state, shards, run).start()
    struck, what = _strike(ctx, fault, rng)
    code = _follow(ctx)
    job = ctx["job"]
    row = {"trial": number, "fault": fault, "what": what, "at_s": None if struck is None else struck - job.t0,
           "exit": code}
    after = struck or job.t0
    noticed = [job.first(t, after) for t in ("job failed", "stopping:", "stopped with a checkpoint",
                                             "refused its input")]
    noticed = [t for t in noticed if t]
    row["detect_s"] = min(noticed) - after if noticed else None
    restarted = job.first("restart 1 of", after)
    row["recover_s"] = restarted - after if restarted else None
    for undo in ctx["cleanup"]:
        undo()
    if ctx.get("restart_cluster"):
        subprocess.run([CLUSTER, "up", state, "--nodes", str(NODES)], check=True, capture_output=True)
    row = _outcome(row, ctx, shards, baselines)
    if fault == "damaged_record":
        shutil.rmtree(shards, ignore_errors=True)
    return row


def _small_disk(state):
    return os.path.join(os.path.dirname(state), "small-disk")


def _outcome(row, ctx, shards, baselines):
    code, run = row["exit"], ctx["run"]
    if code is None:
        row.update(outcome="hung", ok=False)
        return row
    row["checkpoints_load"] = checkpoints_load(run)
    if code != 0:
        row["failure_line"] = next((l for _, l in reversed(ctx["job"].lines) if l.startswith("launch/train.sh:")), "")
        code, again = _again(ctx, shards, resume=code == 75)
        row["rerun_exit"] = code
        if code != 0:
            row.update(outcome=f"re-run failed ({code})", ok=False)
            return row
    row.update(judge(run, baselines))
    what = f"val_acc {row['final_acc']:.4f}" if row["epochs_once"] else "an epoch missing or repeated"
    row.update(outcome=("finished" if row["exit"] == 0 else "one-line stop, re-run finished") + f"; {what}",
               ok=row["epochs_once"] and row["acc_within_1pt"] and row["checkpoints_load"])
    shutil.rmtree(run, ignore_errors=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default="all")
    p.add_argument("--baselines", type=int, default=3, help="fault-free runs to judge the trials against")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    if args.baselines < 1 or args.trials < 0:
        sys.exit("bench/chaos.py: --baselines must be at least 1 (the trials are judged against them) "
                 "and --trials not negative")
    reason = why_not_here()
    if reason:
        sys.exit(f"bench/chaos.py: {reason}")
    faults = FAULTS if args.faults == "all" else tuple(args.faults.split(","))
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        sys.exit(f"bench/chaos.py: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    rng = random.Random(args.seed)
    baselines, rows = run_trials(args, faults, rng)
    print(summary(rows))
    print(f"fault-free runs: val_acc {', '.join(f'{b:.4f}' for b in baselines)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "seed": args.seed, "command": " ".join(sys.argv), "summary": summary(rows),
                       "baselines": baselines}, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


def run_trials(args, faults, rng):
    with tempfile.TemporaryDirectory(prefix="mxdl-chaos-") as tmp:
        state, shards = os.path.join(tmp, "cluster"), os.path.join(tmp, "shards")
        _pack_digits(tmp, shards)
        os.makedirs(_small_disk(state))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "mxdl-chaos-disk", _small_disk(state)],
                       check=True)
        subprocess.run([CLUSTER, "up", state, "--nodes", str(NODES)], check=True, capture_output=True)
        try:
            baselines = [fault_free_run(state, shards, os.path.join(tmp, f"baseline-{i}"))
                         for i in range(args.baselines)]
            print(f"fault-free runs: val_acc {', '.join(f'{b:.4f}' for b in baselines)}; {args.trials} trials, "
                  f"seed {args.seed}")
            print("| trial | fault | struck at | detected after | recovered after | outcome | ok |")
            print("|---|---|---|---|---|---|---|")
            rows = []
            for number in range(1, args.trials + 1):
                rows.append(trial(number, faults[(number - 1) % len(faults)], rng, state, shards, baselines))
                print(_row_text(rows[-1]), flush=True)
            return baselines, rows
        finally:
            subprocess.run([CLUSTER, "down", state], capture_output=True)
            subprocess.run(["umount", _small_disk(state)], capture_output=True)


def fault_free_run(state, shards, run_dir):
    job = Job(state, shards, run_dir).start()
    assert job.wait(BOUND_S) == 0, "the fault-free run failed"
    return json.load(open(os.path.join(run_dir, "history.json")))["epochs"][-1]["val_acc"]


def _seconds(value):
    return "-" if value is None else f"{value:.1f} s"


def _row_text(r):
    return (f"| {r['trial']} | {r['what'] or r['fault']} | {_seconds(r['at_s'])} | {_seconds(r['detect_s'])} | "
            f"{_seconds(r['recover_s'])} | {r['outcome']} | {'yes' if r['ok'] else 'NO'} |")


def summary(rows):
    ok = sum(r["ok"] for r in rows)
    hung = sum(r["outcome"] == "hung" for r in rows)
    detect = [r["detect_s"] for r in rows if r["detect_s"] is not None]
    worst = f"; slowest detection {max(detect):.0f} s" if detect else ""
    return f"{ok} of {len(rows)} trials ended right, {hung} hung{worst}"


def _pack_digits(tmp, shards):
    bin_dir = os.path.dirname(sys.executable)
    images = os.path.join(tmp, "digits")
    subprocess.run([os.path.join(bin_dir, "mxdl-pack"), "digits", images], check=True, capture_output=True)
    subprocess.run([os.path.join(bin_dir, "mxdl-pack"), "build", images, shards, "--split-sizes",
                    "train=0.8,val=0.2", "--png", "--gray", "--shards", "3", "--seed", "0"], check=True,
                   capture_output=True)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    sys.exit(main())
