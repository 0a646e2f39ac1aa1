"""Learning-rate schedules: exact values (the book's tables) from a pure function of the step."""
import pytest

from mxdl.train.schedule import Schedule

SPE = 10  # steps per epoch


def sched(**kw):
    cfg = {"name": "constant", "factor": 0.1, "every": 10, "milestones": [], "power": 1.0, "decay": 0.0,
           "per": "epoch"}
    cfg.update(kw)
    warmup = cfg.pop("warmup", 0.0)
    epochs = cfg.pop("epochs", 40)
    return Schedule(cfg, epochs, SPE, warmup, [{"epoch": 0, "lr": cfg.pop("lr", 0.01)}])


def at_epoch(s, epoch, step=0):
    return s.lr_at(epoch * SPE + step)


@pytest.mark.parametrize("epoch,lr", [(0, 0.01), (3, 0.01), (4, 0.005), (8, 0.005), (9, 0.0025), (13, 0.0025),
                                      (14, 0.00125), (18, 0.00125), (29, 0.00015625), (33, 0.00015625),
                                      (39, 3.90625e-05)])
def test_book_step_decay_factor_half(epoch, lr):
    assert at_epoch(sched(name="step", factor=0.5, every=5), epoch) == pytest.approx(lr, rel=1e-12)


@pytest.mark.parametrize("epoch,lr", [(0, 0.01), (4, 0.0025), (9, 0.000625), (14, 0.00015625),
                                      (29, 0.01 * 0.25 ** 6), (39, 0.01 * 0.25 ** 8)])
def test_book_step_decay_factor_quarter(epoch, lr):
    assert at_epoch(sched(name="step", factor=0.25, every=5), epoch) == pytest.approx(lr, rel=1e-12)
    assert at_epoch(sched(name="step", factor=0.25, every=5), 39) == pytest.approx(1.53e-07, rel=3e-3)


def test_per_epoch_holds_inside_an_epoch_and_per_iteration_does_not():
    s = sched(name="poly", power=1.0, epochs=10, lr=1.0)
    assert at_epoch(s, 2, 0) == at_epoch(s, 2, 9) == pytest.approx(0.8)
    s = sched(name="poly", power=1.0, epochs=10, lr=1.0, per="iteration")
    assert at_epoch(s, 2, 5) == pytest.approx(0.75)


def test_poly_linear_to_zero_and_power_two():
    s = sched(name="poly", power=1.0, epochs=70, lr=5e-3)
    assert at_epoch(s, 0) == 5e-3
    assert at_epoch(s, 35) == pytest.approx(2.5e-3)
    assert at_epoch(s, 69) == pytest.approx(5e-3 / 70)
    assert sched(name="poly", power=2.0, epochs=10, lr=1.0).lr_at(5 * SPE) == pytest.approx(0.25)


def test_multistep_and_constant():
    s = sched(name="multistep", milestones=[30, 60, 80], factor=0.1, lr=0.1, epochs=90)
    assert [at_epoch(s, e) for e in (0, 29, 30, 59, 60, 80)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 1e-4])
    assert at_epoch(sched(lr=0.3), 25) == 0.3


def test_time_decay_is_keras_per_iteration():
    s = sched(name="time", decay=0.01 / 40, lr=0.01)
    assert s.lr_at(0) == 0.01
    assert s.lr_at(1000) == pytest.approx(0.01 / (1 + 0.01 / 40 * 1000))


def test_linear_warmup_then_schedule():
    s = sched(name="step", factor=0.5, every=5, lr=0.4, warmup=2)
    assert s.lr_at(0) == pytest.approx(0.4 / 20)
    assert s.lr_at(9) == pytest.approx(0.4 * 10 / 20)
    assert s.lr_at(19) == pytest.approx(0.4)
    assert s.lr_at(20) == pytest.approx(0.4)


def test_lr_given_on_resume_starts_a_segment():
    s = sched(lr=0.1)  # the book's ctrl+c method: constant lr, stop, resume lower
    s.add_segment(40, 0.01)
    s.add_segment(60, 0.001)
    assert [at_epoch(s, e) for e in (0, 39, 40, 59, 60, 99)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    s = sched(name="poly", epochs=100, lr=1.0)
    s.add_segment(50, 0.1)  # poly keeps decaying from the new value to zero at the end
    assert at_epoch(s, 50) == pytest.approx(0.1) and at_epoch(s, 75) == pytest.approx(0.05)
    s.add_segment(30, 0.2)  # resuming from an earlier epoch drops later segments
    assert s.segments[-1] == {"epoch": 30, "lr": 0.2}


@pytest.mark.parametrize("name", ["constant", "step", "multistep", "poly"])
def test_the_rate_at_an_epoch_does_not_depend_on_the_worker_count(name):
    """Resumed by another worker count (other steps per epoch, other scale), each drop stays at its epoch.

    (Keras's time decay counts iterations, whose number per epoch depends on the worker count.)"""
    cfg = {"name": name, "factor": 0.1, "every": 10, "milestones": [30, 40], "power": 1.0, "decay": 0.001,
           "per": "epoch"}
    segments = [{"epoch": 0, "lr": 0.05}, {"epoch": 40, "lr": 0.01}]
    by_size = {w: Schedule(cfg, 90, 1000 // w, 0.0, segments, scale=w) for w in (1, 2, 4)}
    for epoch in (0, 12, 35, 40, 41, 77):
        one = by_size[1].lr_at(epoch * by_size[1].spe)
        for w, s in by_size.items():
            assert s.lr_at(epoch * s.spe) == pytest.approx(one * w, rel=1e-12), (w, epoch)


def test_cosine_after_warmup_reaches_zero_at_the_end():
    import math
    s = sched(name="cosine", per="iteration", lr=0.4, warmup=5, epochs=45)
    assert s.lr_at(0) == pytest.approx(0.4 / 50)           # warmup: 1/50 of the way
    assert s.lr_at(49) == pytest.approx(0.4)                # warmup's last step
    assert at_epoch(s, 5) == pytest.approx(0.4)             # the cosine starts at its top
    assert at_epoch(s, 25) == pytest.approx(0.2)            # half way through the 40 cosine epochs
    assert at_epoch(s, 35) == pytest.approx(0.4 * 0.5 * (1 + math.cos(0.75 * math.pi)))
    assert s.lr_at(45 * SPE - 1) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * 399 / 400)))
    assert "cosine (half cosine) to zero at epoch 45" in s.describe()
