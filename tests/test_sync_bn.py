"""model.sync_bn (mxdl/models/sync_bn.py): BatchNorm statistics over every worker's batch.

Workers are simulated as threads of one process meeting in a sum, as Horovod's allreduce meets
them; the same proof then runs on 2 real Horovod workers, and a synchronized run trains, resumes
without synchronization and evaluates through the launcher."""
import json
import os
import subprocess
import sys
import threading

import mxnet as mx
import numpy as np
import pytest

from conftest import BIN, REPO, run_in_process
import sync_bn_check as check

LAUNCH = os.path.join(REPO, "launch", "train.sh")


class ThreadGroup:
    """``size`` threads summing arrays: each one's k-th call meets the others' k-th call (Horovod
    meets calls by name; every worker calls in the same order, so the order names them here)."""

    def __init__(self, size):
        self.size, self.barrier, self.parts, self.calls = size, threading.Barrier(size), {}, {}

    def reduce_for(self, rank):
        def reduce(array, name):
            call = self.calls[rank] = self.calls.get(rank, -1) + 1
            self.parts[call, rank] = array.asnumpy()
            self.barrier.wait()
            total = sum(self.parts[call, r] for r in range(self.size))
            self.barrier.wait()
            return mx.nd.array(total, ctx=array.context, dtype=array.dtype)
        return reduce


def simulated_steps(size, sync):
    group, steps, failures = ThreadGroup(size), [None] * size, []

    def work(rank):
        try:
            steps[rank] = check.worker_step(rank, size, group.reduce_for(rank) if sync else None)
        except BaseException as err:  # reported below rather than lost in the thread
            failures.append(err)
            group.barrier.abort()
    threads = [threading.Thread(target=work, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    return steps


@pytest.mark.parametrize("size", [2, 8])
def test_synchronized_workers_equal_one_worker_on_the_whole_batch_and_unsynchronized_ones_do_not(size):
    ref = check.reference()
    synced = check.differences(simulated_steps(size, sync=True), ref)
    assert max(synced.values()) < 1e-5, synced
    alone = check.differences(simulated_steps(size, sync=False), ref)
    assert min(alone.values()) > 1e-3, alone   # so the test can fail


def test_in_float32_the_difference_is_float32_rounding():
    """The network's dtype: the sums are float32 for float32 (and float16) networks."""
    x, y = check.fixed_batch()
    ref = check.one_step(check.make_net("float32"), x, y, "float32")
    from mxdl.models.sync_bn import synchronize
    group, steps = ThreadGroup(2), [None, None]

    def work(rank):
        net = check.make_net("float32")
        synchronize(net, group.reduce_for(rank))
        steps[rank] = check.one_step(net, x[rank * 8:(rank + 1) * 8], y[rank * 8:(rank + 1) * 8], "float32")
    threads = [threading.Thread(target=work, args=(r,)) for r in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    diff = check.differences(steps, ref)
    assert diff["out"] < 1e-4 and diff["running"] < 1e-5 and diff["grads"] < 1e-3, diff


def test_inference_is_batchnorms_own_and_never_meets_the_other_workers():
    from mxdl.models.sync_bn import synchronize

    def no_reduce(array, name):
        raise AssertionError(f"inference summed {name} over workers")
    x = mx.nd.array(check.fixed_batch()[0], dtype="float64")
    plain, synced = check.make_net(), check.make_net()
    synchronize(synced, no_reduce)
    assert np.array_equal(plain(x).asnumpy(), synced(x).asnumpy())


def test_parameters_keep_their_names_so_checkpoints_load_with_and_without_it(tmp_path):
    from mxdl.models.registry import get_model
    from mxdl.models.sync_bn import synchronize
    nets = []
    for sync in (True, False):
        with mx.name.Prefix("net_"):   # one name scope for both, as two processes would build them
            net = get_model("minivggnet", classes=10)
        net.initialize()
        net(mx.nd.zeros((1, 3, 16, 16)))
        if sync:
            assert synchronize(net, lambda a, n: a.copy()) == 5
        nets.append(net)
    names = [sorted(n.collect_params().keys()) for n in nets]
    assert names[0] == names[1]
    nets[0].save_parameters(str(tmp_path / "synced.params"))
    nets[1].load_parameters(str(tmp_path / "synced.params"))   # strict: every name present and used


@pytest.mark.slow
def test_a_network_without_batchnorm_is_a_warning_and_one_worker_is_left_as_it_is(digits_rec, tmp_path):
    config = os.path.join(REPO, "configs", "digits.yaml")
    lenet = run_in_process("mxdl-train", config, f"data.dir={digits_rec}", "train.epochs=1", "model.sync_bn=true",
                           "--output", tmp_path / "lenet")
    assert "model.sync_bn=true: lenet has no BatchNorm layer; nothing to synchronize" in lenet.stderr + lenet.stdout
    vgg = run_in_process("mxdl-train", config, f"data.dir={digits_rec}", "train.epochs=1", "model.sync_bn=true",
                         "model.name=minivggnet", "--output", tmp_path / "vgg")
    assert "model.sync_bn: one worker" in vgg.stderr + vgg.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sync", [True, False])
def test_two_horovod_workers_equal_one_worker_on_the_whole_batch(tmp_path, sync):
    cmd = [os.path.join(BIN, "horovodrun"), "-np", "2", "--gloo", sys.executable,
           os.path.join(REPO, "tests", "sync_bn_check.py"), str(tmp_path)] + ([] if sync else ["--no-sync"])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    diff = json.load(open(tmp_path / "differences.json"))
    assert diff.pop("size") == 2
    same = diff.pop("same_batch_relative")
    if sync:
        assert max(diff.values()) < 1e-5, diff
        # Horovod's allreduce finishes after it returns: a backward that handed MXNet its gradients
        # before they were computed gave errors of 1e7 here, which one step of a small net missed
        assert same < 1e-3, same
    else:
        assert min(diff.values()) > 1e-3, diff


@pytest.mark.slow
@pytest.mark.long   # 30 s: two launches of MiniVGGNet on 2 workers
def test_a_synchronized_run_resumes_without_it_and_evaluates(digits_rec, tmp_path):
    run = str(tmp_path / "run")
    common = [LAUNCH, os.path.join(REPO, "configs", "digits.yaml"), "--np", "2", f"data.dir={digits_rec}",
              "model.name=minivggnet", "data.batch_size=16", "train.log_interval=100000", "--output", run]
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    first = subprocess.run(common + ["train.epochs=1", "model.sync_bn=true"], capture_output=True, text=True,
                           cwd=REPO, env=env, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "model.sync_bn: 5 BatchNorm layers take their statistics over all 2 workers" in first.stdout + first.stderr
    second = subprocess.run(common + ["train.epochs=2", "--resume"], capture_output=True, text=True, cwd=REPO,
                            env=env, timeout=600)
    assert second.returncode == 0 and "resumed from" in second.stdout, second.stdout[-3000:] + second.stderr[-3000:]
    history = json.load(open(os.path.join(run, "history.json")))["epochs"]
    # MiniVGGNet's running statistics on 8x8 digits are not settled after 2 epochs, with or without
    # sync_bn (validation near chance either way): the training accuracy is what shows learning
    assert [e["epoch"] for e in history] == [1, 2] and history[-1]["train_acc"] > 0.6
    ev = run_in_process("mxdl-eval", run, digits_rec, "--split", "val", "--output", tmp_path / "ev")
    assert "accuracy" in ev.stdout
