"""The modern recipe through the trainer: its options together, what it records, and its refusals."""
import glob
import json
import os

import pytest

from conftest import REPO, run_in_process, train_in_process

CONFIG = os.path.join(REPO, "configs", "digits.yaml")


@pytest.mark.slow
def test_the_recipe_trains_and_records_every_step(digits_rec, tmp_path):
    out = tmp_path / "run"
    log = train_in_process(CONFIG, f"data.dir={digits_rec}", "train.epochs=2", "train.mixup=0.2",
                           "train.cutmix=1.0", "train.ema_decay=0.99", "train.accumulate=2",
                           "train.clip_grad_norm=10", "train.label_smoothing=0.1", "train.val_every=2",
                           "schedule.name=cosine", "schedule.per=iteration", "optim.warmup_epochs=0.5",
                           "train.tensorboard=true", "train.log_interval=20", "checkpoint.keep_best=2",
                           "--output", out).stdout
    assert "cosine (half cosine) to zero at epoch 2" in log and " eta " in log, log
    epochs = json.load(open(out / "history.json"))["epochs"]
    assert "val_acc" not in epochs[0] and epochs[1]["val_acc"] > 0.5 and "ema_val_acc" in epochs[1]
    steps = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [s["global_step"] for s in steps] == list(range(1, 2 * 44 + 1))  # 44 steps of 32 per epoch
    assert all(s["loss"] > 0 for s in steps) and steps[-1]["lr"] < steps[30]["lr"]
    assert glob.glob(str(out / "tensorboard" / "events.out.tfevents.*"))
    assert os.path.isfile(out / "checkpoints" / "epoch-0002-step-000000" / "ema.params")


@pytest.mark.slow
def test_runs_compare_draws_several_runs(trained, digits_rec, tmp_path):
    other = tmp_path / "other"
    train_in_process(CONFIG, f"data.dir={digits_rec}", "train.epochs=2", "schedule.name=cosine",
                     "train.log_interval=100000", "data.val_split=", "--output", other)
    png = tmp_path / "both.png"
    out = run_in_process("mxdl-runs", "compare", trained, other, "--output", png, "--label", "step",
                         "--label", "cosine").stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "best validation accuracy" in out
    assert f"{other}: no validation" in out   # not "best validation accuracy 0.0000"
    bad = run_in_process("mxdl-runs", "compare", trained, tmp_path, "--output", png, check=False)
    assert bad.returncode == 2 and "has no history.json" in bad.stderr


@pytest.mark.parametrize("overrides, message", [
    (("train.accumulate=0",), "'train.accumulate' must be at least 1"),
    (("train.ema_decay=1.5",), "'train.ema_decay' must be in [0, 1)"),
    (("train.ema_decay=-0.1",), "'train.ema_decay' must be in [0, 1)"),
    (("model.last_gamma=true",), "model.last_gamma is for residual networks; lenet has no residual block"),
    (("train.amp=bfloat16", "train.dtype=float16"), "train.amp=bfloat16 and train.dtype=float16 do not go"),
    (("train.amp=int8",), "'train.amp' must be one of"),
    (("train.amp=float16",), "train.amp=float16 needs GPUs (MXNet has no float16 kernels for CPUs)"),
    (("train.profile_steps=10:5",), "the first step must come before the second"),
    (("train.profile_steps=40:400", "train.epochs=2"), "must end before the last step: train.epochs gives 88"),
    (("train.profile_steps=abc",), "must look like A:B"),
])
def test_recipe_options_refused_in_one_line(digits_rec, tmp_path, overrides, message):
    proc = train_in_process(CONFIG, f"data.dir={digits_rec}", *overrides, "--output", tmp_path / "x", check=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
        proc.stderr


def test_mixup_needs_two_classes(digits_images, tmp_path):
    import shutil
    shutil.copytree(os.path.join(digits_images, "3"), tmp_path / "one" / "3")
    run_in_process("mxdl-pack", "build", tmp_path / "one", tmp_path / "shards", "--png", "--gray")
    proc = train_in_process(CONFIG, f"data.dir={tmp_path / 'shards'}", "train.mixup=0.2", "data.val_split=",
                            "--output", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "train.mixup/train.cutmix mix two classes' images" in proc.stderr, proc.stderr
    assert "has 1 class" in proc.stderr


@pytest.mark.slow
def test_a_profile_window_writes_a_chrome_trace(digits_rec, tmp_path):
    out = tmp_path / "run"
    train_in_process(CONFIG, f"data.dir={digits_rec}", "train.epochs=1", "train.profile_steps=3:6",
                     "train.log_interval=100000", "--output", out)
    trace = json.load(open(out / "profile-rank-0.json"))
    assert any(e.get("name", "").startswith(("Convolution", "FullyConnected")) for e in trace["traceEvents"])


@pytest.mark.slow
def test_a_resume_with_another_amp_is_refused(digits_rec, tmp_path):
    out = tmp_path / "run"
    train_in_process(CONFIG, f"data.dir={digits_rec}", "train.epochs=1", "train.log_interval=100000",
                     "--output", out)
    proc = train_in_process(CONFIG, f"data.dir={digits_rec}", "train.epochs=2", "train.amp=bfloat16",
                            "--output", out, "--resume", check=False)
    assert proc.returncode == 2 and "train.amp: checkpoint has None, config has 'bfloat16'" in proc.stderr


def test_bfloat16_on_a_cpu_is_known_to_need_avx512():
    from mxdl.topology import cpu_runs_bfloat16
    assert cpu_runs_bfloat16({"avx2", "avx512f", "avx512bw", "avx512vl"})
    assert not cpu_runs_bfloat16({"avx2", "fma"})  # an AMD EPYC without AVX-512: MKLDNN fails in its first conv


def test_horovod_tuning_reaches_horovod_through_its_environment():
    from mxdl.dist import horovod_environment
    cfg = {"fp16_allreduce": True, "fusion_threshold_mb": 32, "cycle_time_ms": 2.5, "hierarchical_allreduce": True}
    assert horovod_environment(cfg) == {"HOROVOD_FUSION_THRESHOLD": str(32 * 1024 * 1024),
                                        "HOROVOD_CYCLE_TIME": "2.5", "HOROVOD_HIERARCHICAL_ALLREDUCE": "1"}
    assert horovod_environment({**cfg, "fusion_threshold_mb": 0, "cycle_time_ms": 0.0,
                                "hierarchical_allreduce": False}) == {}


@pytest.mark.parametrize("cores, workers, gpus, compute, decode", [
    (2, 1, 0, 2, 1), (2, 2, 0, 1, 1), (4, 1, 0, 3, 1), (64, 1, 0, 48, 16), (64, 8, 0, 6, 2),
    (48, 8, 8, 1, 5), (8, 8, 8, 1, 1), (1, 4, 0, 1, 1)])
def test_the_thread_budget_shares_the_cores(cores, workers, gpus, compute, decode):
    from mxdl.budget import plan
    b = plan(cores, workers, gpus)
    assert (b.compute, b.decode) == (compute, decode)
    if not gpus and cores >= workers * 2:
        assert workers * (b.compute + b.decode) <= cores + workers  # at most one sleeping decoder over


def test_too_many_decode_threads_are_lowered_with_a_warning(caplog):
    import logging
    from mxdl.budget import decode_threads, plan
    log = logging.getLogger("mxdl-test")
    assert decode_threads("auto", plan(8, 2, 0), log) == 1
    with caplog.at_level(logging.WARNING):
        assert decode_threads(64, plan(8, 2, 0), log) == 8
    assert "data.threads=64 is more than the 8 core(s) here: using 8" in caplog.text
