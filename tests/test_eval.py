"""Evaluation and the book's workflows: rank-k, 10-crop, ensembles, features, fine-tuning,
augmentation, prediction, class weights, and clear errors on bad input."""
import json
import os
import pickle

import cv2
import h5py
import numpy as np
import pytest

from conftest import REPO, run_cli, run_in_process, train_in_process
from mxdl.data.augment import AugmentSettings, augment
from mxdl.data.preprocess import aspect_aware_resize, center_crop, gray_to_rgb, resize_shorter, ten_crop
from mxdl.errors import UserError
from mxdl.eval.metrics import rank_k

CONFIG = os.path.join(REPO, "configs", "digits.yaml")


def test_rank_k_hand_computed():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 2, 0, 2])
    assert rank_k(probs, labels, 1) == 0.25
    assert rank_k(probs, labels, 2) == 0.5
    assert rank_k(probs, labels, 3) == 1.0
    assert rank_k(probs, labels, 5) == 1.0  # k above the class count means all


def test_ten_crop_windows_of_a_known_image():
    image = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8, 1)
    crops = ten_crop(image, 4, 2)
    assert crops.shape == (10, 2, 4, 1)
    np.testing.assert_array_equal(crops[0], image[0:2, 0:4])
    np.testing.assert_array_equal(crops[1], image[0:2, 4:8])
    np.testing.assert_array_equal(crops[2], image[4:6, 0:4])
    np.testing.assert_array_equal(crops[3], image[4:6, 4:8])
    np.testing.assert_array_equal(crops[4], image[2:4, 2:6])
    for i in range(5):
        np.testing.assert_array_equal(crops[5 + i], crops[i][:, ::-1])


def test_preprocessors():
    image = np.random.RandomState(0).randint(0, 255, (40, 60, 3)).astype(np.uint8)
    assert resize_shorter(image, 20).shape == (20, 30, 3)
    assert aspect_aware_resize(image, 32, 32).shape == (32, 32, 3)
    assert center_crop(image, 20, 20).shape == (20, 20, 3)
    assert gray_to_rgb(image[..., :1]).shape == (40, 60, 3)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(image, 80, 10)


@pytest.mark.parametrize("settings", [AugmentSettings(), AugmentSettings(rotation=90, zoom=0.5),
                                      AugmentSettings.none()])
def test_augmentation_preserves_shape_dtype_and_label(settings, digits_images):
    rng = np.random.RandomState(1)
    for shape in ((8, 8, 1), (32, 48, 3)):
        image = rng.randint(0, 255, shape).astype(np.uint8)
        out = augment(image, settings, rng)
        assert out.shape == image.shape and out.dtype == image.dtype
    none = augment(image, AugmentSettings.none(), rng)
    np.testing.assert_array_equal(none, image)


def test_eval_center_ten_crop_reports_and_files(trained, digits_rec, tmp_path):
    out = tmp_path / "eval"
    proc = run_in_process("mxdl-eval", trained, digits_rec, "--split", "val", "--both", "--output", str(out))
    results = json.load(open(out / "results.json"))
    assert set(results) == {"center crop", "10-crop"}
    assert results["center crop"][0]["rank1"] > 0.9 and results["center crop"][0]["images"] == 359
    best = json.load(open(os.path.join(trained, "checkpoints", "best", "meta.json")))["metrics"]["val_acc"]
    assert results["center crop"][0]["rank1"] == pytest.approx(best, abs=1e-6)  # same as the trainer's figure
    assert "precision" in proc.stdout and "macro avg" in proc.stdout
    assert open(out / "confusion.png", "rb").read(4) == b"\x89PNG"
    rows = (out / "misclassified.csv").read_text().splitlines()
    assert rows[0] == "record,true,predicted,confidence"
    wrong = round((1 - results["10-crop"][0]["rank1"]) * 359)
    assert len(rows) - 1 == wrong
    if wrong:
        assert cv2.imread(str(out / "worst.png")) is not None


def test_ensemble_of_identical_members_equals_one_member(trained, digits_rec, tmp_path):
    proc = run_in_process("mxdl-eval", trained, digits_rec, "--split", "val", "--ensemble", trained,
                   os.path.join(trained, "model-symbol.json"), "--output", str(tmp_path))
    rows = json.load(open(tmp_path / "results.json"))["center crop"]
    assert len(rows) == 4 and rows[-1]["model"].startswith("ensemble")
    assert len({(r["rank1"], r["rank5"]) for r in rows}) == 1
    assert "ensemble (mean probability)" in proc.stdout


def test_eval_bad_inputs_are_clear(trained, digits_rec, photos_tree, tmp_path):
    missing = run_in_process("mxdl-eval", str(tmp_path / "nope"), digits_rec, check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: model not found: {tmp_path / 'nope'}"
    from recordio_tools.pack import build
    other = str(tmp_path / "photo-shards")
    build(photos_tree, other, size="8x8", split="test=1.0", color=False, log=lambda *_: None)
    mismatch = run_in_process("mxdl-eval", trained, other, check=False)
    assert mismatch.returncode == 2 and "predicts 10 classes but" in mismatch.stderr and "has 2" in mismatch.stderr
    nosplit = run_in_process("mxdl-eval", trained, digits_rec, "--split", "test", check=False)
    assert nosplit.returncode == 2 and "split 'test' is not in" in nosplit.stderr


def test_predict_top_k_and_unreadable_image(trained, digits_images, tmp_path):
    proc = run_in_process("mxdl-predict", trained, os.path.join(digits_images, "7"), "--top-k", "3")
    lines = proc.stdout.splitlines()
    assert len(lines) == len(os.listdir(os.path.join(digits_images, "7")))
    first_labels = [line.split(": ")[1].split(",")[0].split()[0] for line in lines]
    assert first_labels.count("7") / len(first_labels) > 0.9
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    proc = run_in_process("mxdl-predict", trained, str(bad), check=False)
    assert proc.returncode == 1 and "cannot read this image" in proc.stderr


@pytest.mark.slow
def test_feature_extraction_hdf5_and_logistic_regression(trained, digits_rec, tmp_path):
    feats = tmp_path / "feats"
    run_in_process("mxdl-features", "extract", trained, digits_rec, "--output", str(feats))
    with h5py.File(feats / "train.h5", "r") as f:
        assert f["features"].shape == (1438, 500) and f["features"].dtype == np.float32
        assert f["labels"].shape == (1438,)
        assert [n.decode() for n in f["label_names"][:]] == [str(i) for i in range(10)]
    from mxdl.eval.features import logreg  # in process, with a two-value grid: the CLI adds nothing here
    best_c, rank1, rank5, text = logreg(str(feats), "train", "val", str(feats / "logreg.pkl"), cs=(0.1, 1.0))
    assert best_c in (0.1, 1.0) and rank1 > 0.9 and rank5 >= rank1 and "macro avg" in text
    saved = pickle.load(open(feats / "logreg.pkl", "rb"))
    assert saved["label_names"][0] == "0" and hasattr(saved["classifier"], "predict_proba")
    layer = run_in_process("mxdl-features", "extract", trained, digits_rec, "--output", str(tmp_path / "f2"),
                    "--layer", "nope", check=False)
    assert layer.returncode == 2 and "no layer 'nope'" in layer.stderr
    nogcv = run_in_process("mxdl-features", "extract", digits_rec, "--gluoncv", "vgg16", "--params",
                    str(tmp_path / "missing.params"), "--output", str(tmp_path / "f3"), check=False)
    assert nogcv.returncode == 2 and "cannot be downloaded here" in nogcv.stderr


@pytest.mark.slow
def test_finetune_warmup_changes_only_the_unfrozen_head(trained, digits_rec, digits_images, tmp_path):
    import mxnet as mx
    out = tmp_path / "ft"
    train_in_process(CONFIG, f"data.dir={digits_rec}", f"model.init_from={trained}", "model.head=book",
                     "train.freeze=features", "train.epochs=1", "train.log_interval=100000", "--output", out)
    before = mx.nd.load(os.path.join(trained, "checkpoints", "best", "model.params"))
    after = mx.nd.load(str(out / "checkpoints" / "epoch-0001-step-000000" / "model.params"))
    body = [k for k in after if k.startswith("features.")]
    head = [k for k in after if k.startswith("output.")]
    assert body and head == ["output.1.weight", "output.1.bias", "output.3.weight", "output.3.bias"]
    for k in body:
        np.testing.assert_array_equal(after[k].asnumpy(), before[k].asnumpy())
    out2 = tmp_path / "ft2"  # phase 2: unfreeze, lower lr, start from the warmed-up run
    train_in_process(CONFIG, f"data.dir={digits_rec}", f"model.init_from={out}", "model.head=book",
                     "optim.lr=0.005", "train.epochs=1", "train.log_interval=100000", "--output", out2)
    tuned = mx.nd.load(str(out2 / "checkpoints" / "epoch-0001-step-000000" / "model.params"))
    assert any(not np.array_equal(tuned[k].asnumpy(), after[k].asnumpy()) for k in body)
    # The fine-tuned run (new head) evaluates and predicts like any other: one network builder.
    report = run_in_process("mxdl-eval", str(out2), digits_rec, "--split", "val", "--output", str(tmp_path / "ev"))
    rank1 = json.load(open(tmp_path / "ev" / "results.json"))["center crop"][0]["rank1"]
    tuned_acc = json.load(open(out2 / "checkpoints" / "best" / "meta.json"))["metrics"]["val_acc"]
    assert rank1 == pytest.approx(tuned_acc, abs=1e-6) and "macro avg" in report.stdout
    predicted = run_in_process("mxdl-predict", str(out2), os.path.join(digits_images, "3"), "--top-k", "1").stdout
    assert predicted.count(": 3 ") > 0.5 * len(predicted.splitlines())
    bad = train_in_process(CONFIG, f"data.dir={digits_rec}", "train.freeze=nomatch", "--output", tmp_path / "x",
                           check=False)
    assert bad.returncode == 2 and "matches no parameter name" in bad.stderr


def test_balanced_class_weights_follow_the_book_rule():
    from mxdl.data.shards import class_weights
    from mxdl.data.manifest import Manifest, Split
    manifest = Manifest("rec", ["neg", "pos"], ["neg", "pos"], {"train": Split(13165, {"neg": 9475, "pos": 3690}, [])},
                        None, {"mean": [0], "std": [1]})
    assert class_weights(manifest, "train", "balanced") == pytest.approx([1.0, 9475 / 3690])
    assert class_weights(manifest, "train", [1, 3]) == [1.0, 3.0]
    with pytest.raises(UserError, match="class_weights must be"):
        class_weights(manifest, "train", [1, 2, 3])


@pytest.mark.slow
def test_class_weights_scale_each_class_loss(digits_rec, tmp_path):
    """With a learning rate too small to move the weights, the weighted loss is exactly the per-class
    weighted mean of the unweighted one, so the weights are shown to reach the loss."""
    def epoch_loss(name, *weights):
        args = [CONFIG, f"data.dir={digits_rec}", "optim.lr=1e-12", "train.epochs=1", "train.log_interval=100000",
                "checkpoint.export=false", "--output", tmp_path / name]
        train_in_process(*args, *weights)
        return json.load(open(tmp_path / name / "history.json"))["epochs"][0]["train_loss"]
    plain = epoch_loss("plain")
    assert epoch_loss("tripled", "train.class_weights=[3,3,3,3,3,3,3,3,3,3]") == pytest.approx(3 * plain, rel=1e-4)
    first = epoch_loss("first", "train.class_weights=[10,1,1,1,1,1,1,1,1,1]")
    assert plain * 1.3 < first < plain * 2.5  # class 0 is a tenth of the records: about (10 + 9) / 10
    assert epoch_loss("balanced", "train.class_weights=balanced") == pytest.approx(plain, rel=0.05)  # digits: near-even


def test_augment_preview_grid(tmp_path):
    from sklearn.datasets import load_sample_image
    src = tmp_path / "china.jpg"
    cv2.imwrite(str(src), load_sample_image("china.jpg")[..., ::-1])
    run_in_process("mxdl-augment-preview", str(src), "--output", str(tmp_path / "grid.png"), "--rows", "2", "--cols", "3",
            "--tile", "64")
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (128, 192, 3)
    bad = run_in_process("mxdl-augment-preview", str(tmp_path / "none.jpg"), "--output", str(tmp_path / "g.png"), check=False)
    assert bad.returncode == 2 and "cannot read image" in bad.stderr


@pytest.mark.slow
def test_two_worker_evaluation_matches_one_worker(trained, digits_rec, tmp_path):
    run_in_process("mxdl-eval", trained, digits_rec, "--split", "val", "--output", str(tmp_path / "one"))
    run_cli("horovodrun", "-np", "2", "--gloo", "mxdl-eval", trained, digits_rec, "--split", "val",
            "--output", str(tmp_path / "two"))
    one = json.load(open(tmp_path / "one" / "results.json"))["center crop"][0]
    two = json.load(open(tmp_path / "two" / "results.json"))["center crop"][0]
    assert two["images"] == one["images"] == 359  # every record once, split across the workers
    assert two["rank1"] == one["rank1"] and two["rank5"] == one["rank5"]


@pytest.mark.slow
def test_features_from_a_local_gluoncv_params_file(digits_rec, tmp_path):
    """Pretrained weights cannot be downloaded here: a gluoncv model-zoo network is built and
    its parameters loaded from a local file (saved here from a randomly initialized net)."""
    import mxnet as mx
    from gluoncv.model_zoo import get_model
    net = get_model("resnet18_v1", pretrained=False)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 32, 32)))
    params = str(tmp_path / "resnet18_v1-local.params")
    net.save_parameters(params)
    out = tmp_path / "feats"
    run_in_process("mxdl-features", "extract", digits_rec, "--gluoncv", "resnet18_v1", "--params", params,
            "--input", "3x32x32", "--split", "val", "--output", str(out))
    with h5py.File(out / "val.h5", "r") as f:
        assert f["features"].shape == (359, 512) and np.isfinite(f["features"][:]).all()


def test_augment_preview_shows_the_recordio_reader(digits_rec, tmp_path):
    """Without augmentation, every tile undone from the reader's batch is a stored training image."""
    from mxdl.data.manifest import Manifest
    from mxdl.data.shards import iter_shard
    manifest = Manifest.load(digits_rec)
    stored = {image.tobytes() for _, path, idx in manifest.shard_paths("train")
              for _, _, image in iter_shard(manifest, path, idx)}
    out = tmp_path / "reader.png"
    proc = run_in_process("mxdl-augment-preview", "--config", CONFIG, f"data.dir={digits_rec}", "--output", str(out),
                   "--rows", "2", "--cols", "3", "--tile", "8")
    assert "the first 6 training images" in proc.stdout
    grid = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    tiles = [grid[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] for r in range(2) for c in range(3)]
    assert all(np.ascontiguousarray(t)[..., None].tobytes() in stored for t in tiles)


def test_ten_crop_says_when_its_views_are_two():
    from types import SimpleNamespace
    from mxdl.eval.evaluate import ten_crop_note
    same = SimpleNamespace(resize=0, input_shape=(1, 8, 8))
    assert "2 distinct ones (the image and its mirror)" in ten_crop_note([8, 8, 1], same)
    assert ten_crop_note([32, 32, 3], SimpleNamespace(resize=0, input_shape=(3, 28, 28))) is None
    assert ten_crop_note([64, 48, 3], SimpleNamespace(resize=40, input_shape=(3, 53, 40))) is not None
    assert ten_crop_note(None, same) is None  # images of different sizes: nothing known


def test_rank5_is_left_out_where_it_cannot_fail():
    from mxdl.eval.metrics import accuracy_text
    from mxdl.train.report import epoch_line, finished_line
    assert accuracy_text(0.9, 1.0, 2) == "rank-1 0.9000"
    assert accuracy_text(0.9, 0.99, 10) == "rank-1 0.9000  rank-5 0.9900"
    entry = {"epoch": 1, "lr": 0.1, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.4, "val_acc": 0.85,
             "val_top5": 1.0, "images_per_sec": 100.0, "data_wait": 0.1, "seconds": 2.0}
    assert "top5" not in epoch_line(entry, 3, None, 2) and "top5 1.0000" in epoch_line(entry, 3, None, 10)
    assert "top-5" not in finished_line(entry, 1, 5) and "top-5 1.0000" in finished_line(entry, 1, 6)


def test_long_work_says_it_is_alive_on_a_terminal_only():
    import io
    import time
    from mxdl.log import still_working

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        with still_working("fitting", every=0.05, stream=stream):
            time.sleep(0.2)  # the long work itself
        assert ("... fitting:" in stream.getvalue()) == shown


def test_fine_tuning_across_input_sizes_names_both_and_never_freezes_a_fresh_layer(digits_rec, trained, tmp_path):
    from conftest import REPO, train_in_process
    args = (os.path.join(REPO, "configs", "digits.yaml"), f"data.dir={digits_rec}", "data.shape=1x6x6",
            f"model.init_from={trained}", "train.epochs=1", "--output", tmp_path / "run")
    refused = train_in_process(*args, check=False)
    assert refused.returncode == 2 and "trained on input 1x8x8 and this run takes 1x6x6" in refused.stderr
    stuck = train_in_process(*args, "model.init_partial=true", "train.freeze=features", check=False)
    assert stuck.returncode == 2 and "freshly initialised, and train.freeze='features' would keep it random" \
        in stuck.stderr, stuck.stderr
    assert len(stuck.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def photo_classes(tmp_path_factory):
    """Eight classes of 64x48 crops of scikit-learn's two sample photographs, the kind of images a
    validation resize acts on (digits are too small to tell resizing methods apart)."""
    import cv2
    from sklearn.datasets import load_sample_images
    root = tmp_path_factory.mktemp("photos8") / "images"
    photos = load_sample_images().images
    for c in range(8):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(8):
            photo = photos[c % 2]
            top, left = 40 * (c // 2) + 7 * i, 60 * (c // 2) + 11 * i
            cv2.imwrite(str(root / f"c{c}" / f"{i}.png"), photo[top: top + 150, left: left + 200, ::-1])
    return str(root)


@pytest.mark.slow
@pytest.mark.parametrize("fmt, packed", [("rec", "64x48"), ("hdf5", "64x48"), ("rec", "24x18")])
def test_evaluation_reproduces_the_trainers_validation(photo_classes, tmp_path, fmt, packed):
    """The trainer logged top-5 0.8529 and mxdl-eval said 0.8500 on the same checkpoint: ImageRecordIter
    resizes bilinearly and floors, evaluation resized with INTER_AREA and rounded. Images smaller
    than the input (24x18 into 40x40; the digits at data.shape=[1,16,16]: 0.9554 against 0.9526)
    are enlarged bilinearly by ImageRecordIter, and were by INTER_AREA in evaluation."""
    from conftest import REPO, train_in_process
    shards = tmp_path / "shards"
    run_in_process("mxdl-pack", "build", photo_classes, shards, "--format", fmt, "--size", packed, "--png",
                   "--split-sizes", "train=0.5,val=0.5", "--seed", "1")
    run = tmp_path / "run"
    shape = ["data.shape=3x40x40", "data.val_resize=44"] if (fmt, packed) == ("rec", "64x48") else ["data.shape=3x40x40"]
    train_in_process(os.path.join(REPO, "configs", "digits.yaml"), f"data.dir={shards}", f"data.format={fmt}",
                     *shape, "data.batch_size=8", "train.epochs=2", "checkpoint.every_epochs=1",
                     "train.log_interval=100000", "--output", run)
    logged = json.load(open(run / "history.json"))["epochs"][-1]
    said = run_in_process("mxdl-eval", run / "checkpoints" / "epoch-0002-step-000000", shards, "--split", "val",
                          "--output", tmp_path / "eval").stdout
    center = json.load(open(tmp_path / "eval" / "results.json"))["center crop"][0]
    assert center["images"] == 32, said
    assert abs(center["rank1"] - logged["val_acc"]) < 1e-9 and abs(center["rank5"] - logged["val_top5"]) < 1e-9, \
        (center, logged)
    # the inputs themselves, image by image: the trainer's validation reader against evaluation's decoding
    from mxdl.data import open_dataset
    from mxdl.eval.evaluate import iter_split
    from mxdl.eval.model_io import load_predictor
    from mxdl.runs.checkpoint import load_meta
    cfg = load_meta(str(run / "checkpoints" / "best"))["config"]
    x, _, rows = next(open_dataset({**cfg, "data": {**cfg["data"], "dir": str(shards)}}).val_batches("val"))
    predictor = load_predictor(str(run))
    images = [image for _, _, image in iter_split(str(shards), "val")][:rows]
    ours = predictor.prepare(np.stack([predictor.views(image)[0] for image in images])).asnumpy()
    assert np.abs(ours - x.asnumpy()[:rows]).max() < 1e-4
    if fmt == "rec":  # a new photo goes through the packer's resize first, as the training images did
        from mxdl.eval.cli import _read_for
        rid = next(rid for rid, _, _ in iter_split(str(shards), "val"))
        name, key = rid.split(":")
        photo = next(line.split("\t")[2].strip() for line in open(shards / f"{name}.lst") if line.split("\t")[0] == key)
        packed = images[0]
        np.testing.assert_array_equal(_read_for(predictor, photo), packed)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", pytest.param("symbol", marks=pytest.mark.long)])
def test_a_server_that_follows_the_export_predicts_as_mxdl_predict(photo_classes, tmp_path, fmt):
    """A consumer that followed model-preprocess.json literally got 'iris 0.962' for a sunflower that
    mxdl-predict called 'buttercup 0.453': the file left out the packer's resize."""
    import cv2
    from sklearn.datasets import load_sample_images
    from conftest import REPO, train_in_process
    from mxdl.eval import serve_check
    from mxdl.eval.cli import _read_for
    from mxdl.eval.model_io import load_predictor
    shards, run = tmp_path / "shards", tmp_path / "run"
    run_in_process("mxdl-pack", "build", photo_classes, shards, "--size", "64x48", "--png", "--seed", "1",
                   "--split-sizes", "train=0.75,val=0.25")
    train_in_process(os.path.join(REPO, "configs", "digits.yaml"), f"data.dir={shards}", "data.shape=3x40x40",
                     "data.val_resize=44", "data.batch_size=8", "train.epochs=2", "train.log_interval=100000",
                     "--output", run)
    run_in_process("mxdl-export", run, "--format", fmt, "--output", tmp_path / "export")
    rng = np.random.RandomState(0)
    photos = []
    for i, photo in enumerate(rng.choice(2, 50)):  # 50 photographs of mixed sizes and aspect ratios
        h, w = rng.randint(30, 300), rng.randint(30, 400)
        top, left = rng.randint(0, 427 - h), rng.randint(0, 640 - w)
        path = tmp_path / f"photo{i}.jpg"
        cv2.imwrite(str(path), load_sample_images().images[photo][top: top + h, left: left + w, ::-1])
        photos.append(str(path))
    predictor = load_predictor(str(run))
    spec = serve_check.read_spec(str(tmp_path / "export"))
    logits_of = serve_check.runner(str(tmp_path / "export"))
    for path in photos:
        theirs = serve_check.probabilities(logits_of(serve_check.tensor(path, spec)))[0]
        ours = predictor.probabilities(predictor.views(_read_for(predictor, path)))[0]
        assert np.argmax(theirs) == np.argmax(ours) and np.abs(theirs - ours).max() < 1e-4, path
    (tmp_path / "broken.jpg").write_text("not an image")
    out = run_in_process("mxdl-serve-check", tmp_path / "export", photos[0], tmp_path / "broken.jpg", check=False)
    assert out.returncode == 1 and out.stdout.startswith(photos[0]) and "broken.jpg: cannot read" in out.stderr


def test_an_export_without_the_full_preprocessing_is_one_line(tmp_path):
    for content, said in ((None, "is missing"), ('{"mean": null, "scale": 1, "resize": 0}', "has schema 1, older"),
                          ("{ not json", "is damaged (not JSON)")):
        folder = tmp_path / f"e{len(said)}-{len(content or '')}"
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"")
        if content:
            (folder / "model-preprocess.json").write_text(content)
        out = run_in_process("mxdl-serve-check", folder, "x.jpg", check=False)
        assert out.returncode == 2 and said in out.stderr and "export the model again" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
