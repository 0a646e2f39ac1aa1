"""The training step's parts, numerically: accumulation, clipping, the non-finite guard, mixing, EMA."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from mxdl.models import get_model
from mxdl.train import guard
from mxdl.train.step import Ema, Mixer, Stepper

TRAIN = {"label_smoothing": 0.0, "accumulate": 1, "clip_grad_norm": 0.0, "nonfinite_limit": 0, "mixup": 0.0,
         "distill_weight": 0.5,
         "cutmix": 0.0, "ema_decay": 0.0, "amp": None}


@pytest.fixture(params=["copy_if", "rows"])
def undo(request, monkeypatch):
    """Each guard test runs both ways of undoing a step on a CPU: mxdl_copy_if (copy_if.cc, which
    setup.py builds), and the stock operators' rows, which GPUs use."""
    if request.param == "copy_if":
        assert guard.copy_if_loaded(), "mxdl_copy_if was not built: pip install -e . needs a C++ compiler"
    else:
        monkeypatch.setattr(guard, "copy_if_loaded", lambda: False)
    return request.param


def _net(seed=0):
    """LeNet has no batch norm and no dropout: a batch split in two gives the same gradients."""
    mx.random.seed(seed)
    net = get_model("lenet", classes=10)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 8, 8)))
    return net


def _stepper(net, batch, lr=0.1, momentum=0.9, wd=1e-4, **train):
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr, "momentum": momentum, "wd": wd},
                            kvstore=None)
    return Stepper(net, trainer, {**TRAIN, **train}, batch, 10, None)


def _batch(n, seed):
    rng = np.random.RandomState(seed)
    return mx.nd.array(rng.uniform(size=(n, 1, 8, 8))), mx.nd.array(rng.randint(0, 10, n))


def _weights(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch():
    big, small = _net(), _net()
    one = _stepper(big, batch=32)
    accumulated = _stepper(small, batch=16, accumulate=2)
    for step in range(3):
        x, y = _batch(32, step)
        one.micro_batch(x, y, None)
        one.update()
        for half in (slice(0, 16), slice(16, 32)):
            accumulated.micro_batch(x[half], y[half], None)
            assert accumulated.due(1 if half.start == 0 else 2, 100) == (half.start == 16)
        accumulated.update()
    a, b = _weights(big), _weights(small)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_clipping_bounds_the_per_image_gradient_norm():
    net = _net()
    before = _weights(net)
    stepper = _stepper(net, batch=8, lr=1.0, momentum=0.0, wd=0.0, clip_grad_norm=0.01)
    x, y = _batch(8, 0)
    stepper.micro_batch(x * 1000, y, None)
    stepper.update()
    moved = np.sqrt(sum(((_weights(net)[k] - before[k]) ** 2).sum() for k in before))
    assert moved == pytest.approx(0.01, rel=1e-3)  # plain SGD at lr 1 moves the weights by the gradient


@pytest.mark.usefixtures("undo")
def test_non_finite_steps_are_skipped_counted_and_stop_after_the_limit():
    net = _net()
    stepper = _stepper(net, batch=4, nonfinite_limit=2)
    x, y = _batch(4, 0)
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    before = _weights(net)
    stepper.micro_batch(poisoned, y, None)
    stepper.update()
    assert not stepper.poll() and stepper.skipped == 1
    assert all(np.array_equal(before[k], v) for k, v in _weights(net).items())  # untouched, first step too
    stepper.micro_batch(poisoned, y, None)
    stepper.update()
    assert stepper.poll()
    stepper.micro_batch(x, y, None)
    stepper.update()
    assert stepper.poll() and stepper.guard.run == 0 and stepper.skipped == 2  # the stop stands once seen


def _two_finite_steps(net):
    stepper = _stepper(net, batch=4, nonfinite_limit=2)
    x, y = _batch(4, 0)
    for _ in range(2):
        stepper.micro_batch(x, y, None)
        stepper.update()
    return stepper, x, y


def test_on_a_cpu_a_finite_step_copies_nothing():
    """With mxdl_copy_if, the weights are saved and put back only on a bad step: after finite steps
    the saved copies are still the zeros they were made as; after a bad one they hold the weights."""
    net = _net()
    stepper, x, y = _two_finite_steps(net)
    undo = stepper.guard._undo
    assert isinstance(undo, guard._CopyOnBadSteps)
    assert all(not saved.asnumpy().any() for saved in undo.saved)
    before = _weights(net)
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    stepper.micro_batch(poisoned, y, None)
    stepper.update()
    saved = {id(target): copy.asnumpy() for target, copy in zip(undo.targets, undo.saved)}
    for k, p in net._collect_params_with_prefix().items():
        np.testing.assert_array_equal(saved[id(p.data())], before[k], err_msg=k)


@pytest.mark.parametrize("recipe", [{}, {"ema_decay": 0.5}, {"accumulate": 2}], ids=["plain", "ema", "accumulate"])
@pytest.mark.usefixtures("undo")
def test_a_skipped_step_leaves_weights_momentum_and_average_as_they_were(recipe):
    """Momentum and weight decay move the weights even on a zero gradient: the guard restores the
    optimizer's state too, so a run with a skipped step equals the run without it."""
    clean, guarded = _net(), _net()
    plain = _stepper(clean, batch=4, nonfinite_limit=3, **recipe)
    skipping = _stepper(guarded, batch=4, nonfinite_limit=3, **recipe)
    poisoned, y = _batch(4, 9)
    poisoned[1, 0, 2, 2] = np.inf
    batches = [_batch(4, step) for step in range(4)]
    for stepper, sequence in ((plain, batches), (skipping, batches[:2] + [(poisoned, y)] + batches[2:])):
        for x, y in sequence:
            for _ in range(stepper.accumulate):
                stepper.micro_batch(x, y, None)
            stepper.update()
    assert skipping.skipped == 1 and plain.skipped == 0
    a, b = _weights(clean), _weights(guarded)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    if recipe.get("ema_decay"):
        for s, t in zip(plain.ema.shadow, skipping.ema.shadow):
            np.testing.assert_array_equal(s.asnumpy(), t.asnumpy())


def test_mixup_loss_is_the_mix_of_both_labels_losses():
    net = _net()
    stepper = _stepper(net, batch=6, mixup=0.4)
    x, y = _batch(6, 1)
    mixed, y_a, y_b, lam = Mixer(0.4, 0.0).mix(x, y, seed=3)
    assert 0 < lam < 1 and mixed.shape == x.shape
    again = Mixer(0.4, 0.0).mix(x, y, seed=3)
    assert again[3] == lam and np.array_equal(again[0].asnumpy(), mixed.asnumpy())  # seeded: resumable
    out = net(mixed)
    sparse = gluon.loss.SoftmaxCrossEntropyLoss()
    expected = lam * sparse(out, y_a) + (1 - lam) * sparse(out, y_b)
    np.testing.assert_allclose(stepper.loss(out, y_a, y_b, lam).asnumpy(), expected.asnumpy(), rtol=1e-5)


def test_cutmix_pastes_a_box_and_lam_is_the_area_kept():
    x = mx.nd.zeros((4, 3, 32, 32))
    x[:] = mx.nd.arange(4).reshape((4, 1, 1, 1))  # image i is filled with the value i
    y = mx.nd.arange(4)
    mixed, y_a, y_b, lam = Mixer(0.0, 1.0).mix(x, y, seed=5)
    for i in range(4):
        kept = (mixed[i].asnumpy() == i).mean()
        if y_b[i].asscalar() != i:
            assert kept == pytest.approx(lam)
            assert ((mixed[i].asnumpy() == y_b[i].asscalar()).mean()) == pytest.approx(1 - lam)


def test_ema_averages_swaps_and_reloads(tmp_path):
    net = _net()
    ema = Ema(net, decay=0.5)
    start = _weights(net)
    ema.update()  # the first update takes a copy
    for p in net.collect_params().values():
        p.set_data(p.data() + 1)
    ema.update()
    ema.swap()
    averaged = _weights(net)
    for k in start:
        np.testing.assert_allclose(averaged[k], start[k] + 0.5, rtol=1e-6, atol=1e-6)
    ema.swap()
    for k in start:
        np.testing.assert_allclose(_weights(net)[k], start[k] + 1, rtol=1e-6, atol=1e-6)
    ema.save(str(tmp_path / "ema.params"))
    other = Ema(_net(seed=1), decay=0.5)
    other.load(str(tmp_path / "ema.params"), mx.cpu())
    assert all(np.array_equal(a.asnumpy(), b.asnumpy()) for a, b in zip(other.shadow, ema.shadow))


def test_mixed_labels_with_smoothing_and_class_weights():
    net = _net()
    weights = mx.nd.array(np.arange(1, 11, dtype=np.float32))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore=None)
    stepper = Stepper(net, trainer, {**TRAIN, "mixup": 0.4, "label_smoothing": 0.1}, 6, 10, weights)
    x, y = _batch(6, 2)
    mixed, y_a, y_b, lam = Mixer(0.4, 0.0).mix(x, y, seed=4)
    out = net(mixed)
    target = (lam * mx.nd.one_hot(y_a, 10) + (1 - lam) * mx.nd.one_hot(y_b, 10)) * 0.9 + 0.01
    ce = -(target * mx.nd.log_softmax(out)).sum(axis=1)
    weight = lam * weights.take(y_a) + (1 - lam) * weights.take(y_b)
    np.testing.assert_allclose(stepper.loss(out, y_a, y_b, lam).asnumpy(), (ce * weight).asnumpy(), rtol=1e-5)


@pytest.mark.usefixtures("undo")
def test_the_guard_undoes_a_step_on_weights_in_mkldnn_layout():
    """After an inference pass MKLDNN may hold convolution weights in its own layout, of which MXNet
    refuses reshaped views (the guard once failed there in a run's second epoch)."""
    mx.random.seed(0)
    net = get_model("minivggnet", classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x, y = mx.nd.array(np.random.RandomState(0).uniform(size=(4, 3, 16, 16))), mx.nd.array([0, 1, 2, 3])
    stepper = _stepper(net, batch=4, nonfinite_limit=3)
    stepper.micro_batch(x, y, None)
    stepper.update()
    with mx.autograd.predict_mode():
        net(x).wait_to_read()
    stepper.guard.forget()  # as at an epoch's start: the weights are taken again
    before = _weights(net)
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    stepper.micro_batch(poisoned, y, None)
    stepper.update()
    assert stepper.skipped == 1
    after = _weights(net)
    trainable = [k for k, p in net._collect_params_with_prefix().items() if p.grad_req != "null"]
    for k in trainable:  # (the forward pass moved BatchNorm's running statistics, as it should)
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


@pytest.mark.usefixtures("undo")
def test_guarded_steps_between_inference_passes_equal_unguarded_ones():
    """The guard's views of the weights are made at its first update; inference passes later put
    MKLDNN's layout on the convolution weights. Read through a view that no longer matched, every
    finite step would write scrambled weights back."""
    def train(limit):
        mx.random.seed(0)
        net = get_model("minivggnet", classes=10)
        net.initialize(mx.init.Xavier())
        net.hybridize()
        rng = np.random.RandomState(0)
        stepper = _stepper(net, batch=4, nonfinite_limit=limit)
        for _ in range(3):
            x = mx.nd.array(rng.uniform(size=(4, 3, 16, 16)))
            stepper.micro_batch(x, mx.nd.array([0, 1, 2, 3]), None)
            stepper.update()
            with mx.autograd.predict_mode():
                net(x).wait_to_read()
        return _weights(net)
    plain, guarded = train(0), train(3)
    for k in plain:
        np.testing.assert_array_equal(plain[k], guarded[k], err_msg=k)


@pytest.mark.usefixtures("undo")
def test_after_loading_optimizer_states_a_skipped_step_restores_the_ones_in_use(tmp_path):
    """A checkpoint loads the optimizer states on the CPU and MXNet moves them to the weights' device
    at the next update, as new arrays: the guard must keep those, not the loaded ones. Two CPU
    contexts stand in for a GPU run resumed from a checkpoint."""
    from mxdl.runs.checkpoint import load_optimizer, save_optimizer
    device = mx.cpu(1)
    x, y = _batch(4, 0)
    x, y = x.as_in_context(device), y.as_in_context(device)
    net = get_model("lenet", classes=10)
    net.initialize(mx.init.Xavier(), ctx=device)
    first = _stepper(net, batch=4, nonfinite_limit=3)
    first.micro_batch(x, y, None)
    first.update()
    path = str(tmp_path / "optimizer.params")
    info = save_optimizer(first.trainer, path)
    saved = {k: v.asnumpy() for k, v in mx.nd.load(path).items()}
    resumed = _stepper(net, batch=4, nonfinite_limit=3)
    load_optimizer(resumed.trainer, path, info, device)
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    resumed.micro_batch(poisoned, y, None)
    resumed.update()
    assert resumed.skipped == 1
    in_use = resumed.trainer._updaters[0].states
    for key, value in saved.items():
        np.testing.assert_array_equal(in_use[int(key)].asnumpy(), value, err_msg=key)


@pytest.mark.parametrize("library", ["missing", "not a library"])
def test_without_mxdl_copy_if_the_guard_says_why_once_and_uses_stock_operators(library, tmp_path, monkeypatch,
                                                                              caplog):
    prefix = str(tmp_path / "_copy_if")
    if library == "not a library":
        (tmp_path / "_copy_if.so").write_bytes(b"not an ELF file")
    monkeypatch.setattr(guard, "_LIBRARY", prefix)
    monkeypatch.setattr(guard, "_loaded", None)
    stepper = _two_finite_steps(_net())[0]
    assert isinstance(stepper.guard._undo, guard._Rows)
    said = [r.getMessage() for r in caplog.records if "mxdl_copy_if" in r.getMessage()]
    assert len(said) == 1 and ("not built" if library == "missing" else "did not load") in said[0]
