"""Knowledge distillation: the loss against a hand computation, a student taught by the digits
LeNet, the teacher kept out of the student's checkpoints, refusals that name both networks, and
README's proof on one seed."""
import json
import os

import numpy as np
import pytest

from bench.distill_digits import DISTILL, STUDENT, first_within
from conftest import REPO, run_in_process, train_in_process

CONFIG = os.path.join(REPO, "configs", "digits.yaml")


def test_the_loss_is_the_hand_computed_mix_of_labels_and_softened_teacher():
    import mxnet as mx
    from mxdl.train.distill import distillation_loss
    from mxdl.train.step import Stepper
    student = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=np.float32)
    teacher = np.array([[1.5, 1.0, -0.5], [0.0, 1.0, 2.0]], dtype=np.float32)
    labels, T, w = np.array([0, 2]), 4.0, 0.3

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    p, q = softmax(teacher / T), softmax(student / T)
    kl = T * T * np.sum(p * (np.log(p) - np.log(q)), axis=1)
    hard = -np.log(softmax(student)[np.arange(2), labels])
    soft = mx.nd.array(p)
    got = distillation_loss(mx.nd.array(student), soft, T).asnumpy()
    assert np.allclose(got, kl, rtol=1e-3)   # MXNet's log_softmax is good to about 3e-6, times T^2

    class Fixed:   # a network that answers the student's logits, and a teacher with its temperature
        temperature = T

        def __call__(self, x):
            return mx.nd.array(student)
    stepper = Stepper.__new__(Stepper)   # only its loss is exercised here
    stepper.__dict__.update(net=Fixed(), teacher=Fixed(), distill_weight=w, dense_labels=False, smoothing=0.0,
                            class_weights=None, loss_fn=mx.gluon.loss.SoftmaxCrossEntropyLoss())
    _, loss = stepper.forward_loss(mx.nd.zeros((2, 1)), mx.nd.array(labels), soft=soft)
    assert np.allclose(loss.asnumpy(), (1 - w) * hard + w * kl, rtol=1e-3)


@pytest.mark.slow
def test_a_student_learns_from_the_digits_lenet_and_keeps_it_out_of_its_checkpoints(trained, digits_rec, tmp_path):
    run = tmp_path / "student"
    common = (CONFIG, f"data.dir={digits_rec}", "model.name=mlp", "model.options={hidden: [32], activation: relu}",
              "train.log_interval=100000", "train.distill_temperature=4", "--output", run)
    out = train_in_process(*common, "train.epochs=2", f"train.distill_from={trained}").stdout
    assert f"distilling from {trained} (lenet): temperature 4" in open(run / "train.log").read() + out
    latest = run / "checkpoints" / open(run / "checkpoints" / "latest").read().strip()
    meta = json.load(open(latest / "meta.json"))
    assert meta["identity"]["teacher"] == os.path.abspath(trained)
    assert not any("conv" in n for n in meta["param_names"])   # the (convolutional) teacher is not saved
    # resuming with another teacher is refused, naming both
    other = run_in_process("mxdl-train", *common, "train.epochs=3", f"train.distill_from={latest}", check=False)
    assert other.returncode == 2 and "teacher: checkpoint has" in other.stderr, other.stderr


@pytest.mark.slow
@pytest.mark.parametrize("student, message", [
    (("data.synthetic=true", "data.shape=[1,8,8]", "data.synthetic_classes=5", "data.synthetic_records=64"),
     "predicts 10 classes and the student 5"),
    (("data.synthetic=true", "data.shape=[1,16,16]", "data.synthetic_classes=10", "data.synthetic_records=64"),
     "cannot take the student's input 1x16x16"),
])
def test_a_teacher_that_does_not_fit_the_student_is_one_line(trained, tmp_path, student, message):
    proc = run_in_process("mxdl-train", CONFIG, *student, f"train.distill_from={trained}", "--output",
                          tmp_path / "run", check=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
@pytest.mark.long
def test_with_few_labels_a_distilled_student_reaches_its_teacher_in_fewer_epochs(digits_images, tmp_path):
    """bench/distill_digits.py's comparison on one seed (README runs ten): the student has 40% of the
    digits labelled; its teacher trained on another 40%."""
    from recordio_tools.pack import build
    shards = str(tmp_path / "shards")
    build(digits_images, shards, fmt="rec", shards=2, split="val=0.2,train=0.4,transfer=0.4", encoding=".png",
          color=False, workers=2, seed=0, log=lambda *_: None)

    def accuracies(name, epochs, *extra):
        train_in_process(CONFIG, f"data.dir={shards}", f"train.epochs={epochs}", "train.log_interval=100000",
                         "checkpoint.export=false", "--output", tmp_path / name, *extra)
        return [e["val_acc"] for e in json.load(open(tmp_path / name / "history.json"))["epochs"]]
    target = max(accuracies("teacher", 20, "data.train_split=transfer"))
    alone = accuracies("alone", 12, *STUDENT, "train.seed=0")
    taught = accuracies("taught", 12, *STUDENT, "train.seed=0", f"train.distill_from={tmp_path / 'teacher'}", *DISTILL)
    never = len(alone) + 1
    assert (first_within(taught, target) or never) < (first_within(alone, target) or never), (target, alone, taught)
