"""Resuming on another number of workers: the learning rate a fresh run of the new size has.

Workers are simulated in one process: a Dist that reports ``size`` workers reads
rank 0's share and scales the rate, exactly as each Horovod worker would.
"""
import pytest

from conftest import REPO
from mxdl import config
from mxdl.dist import Dist
from mxdl.errors import UserError
from mxdl.runs.checkpoint import load_meta
from mxdl.train.loop import Run


class SimulatedDist(Dist):
    def __init__(self, size):
        super().__init__()
        self.size = size


def make_cfg(digits_rec, *overrides):
    return config.resolve(f"{REPO}/configs/digits.yaml", [
        f"data.dir={digits_rec}", "data.batch_size=8", "schedule.name=step", "schedule.every=2",
        "schedule.factor=0.5", "optim.lr=0.04", "checkpoint.every_epochs=1", "checkpoint.export=false",
        "train.log_interval=100000", *overrides])


def lr_at_epoch(run, epoch, step=0):
    return run.schedule.lr_at(run.global_step(epoch, step))


@pytest.mark.slow
@pytest.mark.parametrize("old,new", [(2, 1), (1, 2), (4, 1)])
def test_resumed_rate_equals_a_fresh_run_of_the_new_size(digits_rec, tmp_path, old, new):
    first = Run(make_cfg(digits_rec, "train.epochs=2"), str(tmp_path), SimulatedDist(old))
    first.fit()
    resumed = Run(make_cfg(digits_rec, "train.epochs=5"), str(tmp_path), SimulatedDist(new), resume="latest")
    fresh = Run(make_cfg(digits_rec, "train.epochs=5"), str(tmp_path / "fresh"), SimulatedDist(new))
    assert resumed.start_epoch == 2 and resumed.spe == fresh.spe != first.spe
    for epoch in (2, 3, 4):  # the drop at epoch 3 (every 2: after epochs 1 and 3) stays at epoch 3
        assert lr_at_epoch(resumed, epoch) == pytest.approx(lr_at_epoch(fresh, epoch), rel=1e-12)
    assert lr_at_epoch(resumed, 3) == pytest.approx(0.04 * 0.25 * new)


@pytest.mark.slow
def test_an_lr_given_on_resume_stays_at_its_epoch_across_sizes(digits_rec, tmp_path):
    Run(make_cfg(digits_rec, "train.epochs=2", "schedule.name=constant"), str(tmp_path), SimulatedDist(2)).fit()
    Run(make_cfg(digits_rec, "train.epochs=3", "schedule.name=constant"), str(tmp_path), SimulatedDist(2),
        resume="1", lr_override=0.004).fit()  # the book's ctrl+c: from epoch 1 at a lower rate
    on_one = Run(make_cfg(digits_rec, "train.epochs=4", "schedule.name=constant"), str(tmp_path),
                 SimulatedDist(1), resume="latest")
    assert [lr_at_epoch(on_one, e) for e in (0, 1, 3)] == pytest.approx([0.04, 0.004, 0.004])
    on_four = Run(make_cfg(digits_rec, "train.epochs=4", "schedule.name=constant"), str(tmp_path),
                  SimulatedDist(4), resume="latest")
    assert [lr_at_epoch(on_four, e) for e in (0, 1, 3)] == pytest.approx([0.16, 0.016, 0.016])


@pytest.mark.slow
def test_a_mid_epoch_checkpoint_resumes_on_another_size_at_the_same_epoch_fraction(digits_rec, tmp_path):
    run = Run(make_cfg(digits_rec, "train.epochs=1"), str(tmp_path), SimulatedDist(2))
    run.fit()
    path = run.save_checkpoint(1, 30, "stop")  # as a stop 30 steps into epoch 2 would save it
    assert load_meta(path)["steps_per_epoch"] == 89
    resumed = Run(make_cfg(digits_rec, "train.epochs=2"), str(tmp_path), SimulatedDist(1), resume="latest")
    assert (resumed.start_epoch, resumed.start_step, resumed.spe) == (1, round(30 / 89 * 179), 179)
    history = resumed.fit()
    assert history == "finished" and resumed.history.entries[-1]["world_size"] == 1


def test_a_format_1_checkpoint_is_read_in_epochs(digits_rec, tmp_path):
    """Segments of older checkpoints (global steps, rates already scaled) are converted on load."""
    from mxdl.train.resume import segments_in_epochs
    meta = {"format": 1, "world_size": 4, "steps_per_epoch": 50,
            "lr_segments": [{"step": 0, "lr": 0.4}, {"step": 2000, "lr": 0.04}]}
    assert segments_in_epochs(meta, True) == [{"epoch": 0.0, "lr": 0.1}, {"epoch": 40.0, "lr": 0.01}]
    assert segments_in_epochs(meta, False)[1] == {"epoch": 40.0, "lr": 0.04}


@pytest.mark.slow
def test_a_batch_size_change_is_refused(digits_rec, tmp_path):
    Run(make_cfg(digits_rec, "train.epochs=1"), str(tmp_path), SimulatedDist(1)).fit()
    with pytest.raises(UserError, match="trained with data.batch_size=8; resume with data.batch_size=8"):
        Run(make_cfg(digits_rec, "train.epochs=2", "data.batch_size=16"), str(tmp_path), SimulatedDist(1),
            resume="latest")
