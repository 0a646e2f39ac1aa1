"""Evaluation commands.

``mxdl-eval MODEL DATA [--split test] [--ten-crop | --both] [--ensemble MODEL ...] [--output DIR]``
    rank-1/rank-5, scikit-learn's classification report, confusion matrix PNG,
    misclassified.csv and worst.png. MODEL is a run directory, a checkpoint
    directory or an exported *-symbol.json. Under horovodrun each worker
    evaluates a share and rank 0 reports the combined figures.

``mxdl-predict MODEL IMAGE_OR_DIR [--top-k 5] [--ten-crop]``
    top-k labels with probabilities for image files.

``mxdl-augment-preview IMAGE --output grid.png [--rows 4 --cols 6]``
    the book's augmentation settings applied to one image, as a grid.
``mxdl-augment-preview --config CONFIG [key=value ...] --output grid.png``
    the first training batch exactly as the trainer's RecordIO reader makes it
    (ImageRecordIter's crops, jitter and normalisation), undone to pixels.
"""
import json
import os
import sys

import cv2
import numpy as np

from ..cli_help import count_up_to, make_parser, positive_int
from ..errors import UserError, cli_entry


def eval_parser():
    p = make_parser("mxdl-eval", "Rank-1/rank-5 accuracy, classification report, confusion matrix and the worst "
                    "errors of a trained model (or an ensemble) on a packed split.", [
                        "mxdl-eval runs/dogs_vs_cats_alexnet shards/dogs_vs_cats --split test --both",
                        "mxdl-eval runs/cifar10_minivggnet shards/cifar10 --ensemble runs/m2 runs/m3",
                        "horovodrun -np 2 --gloo mxdl-eval runs/digits runs/data/digits-shards --split val"])
    p.add_argument("model", help="run dir, checkpoint dir or *-symbol.json")
    p.add_argument("data", help="shard directory written by mxdl-pack build")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ten-crop", action="store_true", help="average 10 crops (corners, center, mirrors)")
    g.add_argument("--both", action="store_true", help="report center crop and 10-crop")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="MODEL", help="more members; probabilities averaged")
    p.add_argument("--output", help="directory for the report files (default: MODEL's run dir/eval-SPLIT)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass (default: 64)")
    return p


def _out_dir(model, split, out):
    if out:
        return out
    base = model if os.path.isdir(model) else os.path.dirname(model)
    while os.path.basename(os.path.dirname(base)) == "checkpoints":
        base = os.path.dirname(os.path.dirname(base))
    return os.path.join(base, f"eval-{split}")


def _check_members(predictors, data_dir):
    from ..data.manifest import Manifest
    classes = list(Manifest.load(data_dir).class_names)
    for p in predictors:
        if len(p.class_names) != len(classes):
            raise UserError(f"{p.source} predicts {len(p.class_names)} classes but {data_dir} has {len(classes)}")
        if list(p.class_names) != classes:  # same count, other names or order: every score would be wrong
            i = next(i for i, (a, b) in enumerate(zip(p.class_names, classes)) if a != b)
            raise UserError(f"{p.source} and {data_dir} name their classes differently: label {i} is "
                            f"'{p.class_names[i]}' to the model and '{classes[i]}' to the shards")
        if p.input_shape != predictors[0].input_shape:
            raise UserError(f"ensemble members take different inputs: {p.source} {p.input_shape}")


def _gather(dist, probs, labels, ids):
    """Concatenate every worker's share (probabilities, labels, record ids) on all workers (Horovod),
    or return as is. The images stay where they are: rank 0 reads back the few the report shows."""
    if dist.hvd is None or dist.size == 1:
        return probs, labels, ids
    parts = dist.hvd.allgather_object((probs, labels, ids))
    probs = [np.concatenate([p[0][m] for p in parts]) for m in range(len(probs))]
    return probs, np.concatenate([p[1] for p in parts]), sum((p[2] for p in parts), [])


@cli_entry
def main(argv=None):
    from ..data.manifest import Manifest
    from ..dist import Dist
    from .model_io import load_predictor
    args = eval_parser().parse_args(argv)
    dist = Dist()  # first: each worker's device comes from its local rank
    members = [load_predictor(m, dist.context()) for m in [args.model] + args.ensemble]
    _check_members(members, args.data)
    for member in members if dist.primary else []:
        print(f"evaluating {member.describe()}")
    modes = [False, True] if args.both else [args.ten_crop]
    if True in modes and dist.primary:
        from .evaluate import ten_crop_note
        note = ten_crop_note(Manifest.load(args.data).image_shape, members[0])
        if note:
            print(note)
    scored = _score(args, members, modes, dist)
    if dist.primary:
        _write_report(_out_dir(args.model, args.split, args.output), *scored, members[0].class_names, args.data)
    return 0


def _score(args, members, modes, dist):
    """Each mode's rows (rank-1, rank-5 per member and the ensemble), printed; then the last mode's
    mean probabilities, labels and record ids for the report."""
    from .evaluate import predict_split, summarize
    from .metrics import accuracy_text
    results, classes = {}, len(members[0].class_names)
    for ten in modes:
        mode = "10-crop" if ten else "center crop"
        local = predict_split(members, args.data, args.split, ten, args.batch_size, dist.rank, dist.size)
        probs, labels, ids = _gather(dist, *local)
        rows = [summarize(m.source, p, labels) for m, p in zip(members, probs)]
        if len(members) > 1:
            rows.append(summarize("ensemble (mean probability)", np.mean(probs, axis=0), labels))
        results[mode] = rows
        for r in rows if dist.primary else []:
            print(f"{mode:11s} {accuracy_text(r['rank1'], r['rank5'], classes)}  ({r['images']} images)  {r['model']}")
    return results, np.mean(probs, axis=0), labels, ids


def _write_report(out_dir, results, probs, labels, ids, class_names, data_dir):
    from .evaluate import full_report, write_errors
    os.makedirs(out_dir, exist_ok=True)
    print(full_report(out_dir, probs, labels, class_names))
    errors = write_errors(out_dir, probs, labels, ids, data_dir, class_names)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"{errors} misclassified; report, confusion.png, misclassified.csv, worst.png in {out_dir}")


# ---- mxdl-predict -------------------------------------------------------------------------------

def _image_files(target):
    from ..data.preprocess import IMAGE_EXTS
    if os.path.isdir(target):
        found = sorted(os.path.join(d, f) for d, _, files in os.walk(target) for f in files
                       if f.lower().endswith(IMAGE_EXTS))
        if not found:
            raise UserError(f"no images in {target} (looked for {', '.join(IMAGE_EXTS)}, in subfolders too)")
        return found
    if os.path.isfile(target):
        return [target]
    raise UserError(f"image or folder not found: {target}")


def _read_for(predictor, path):
    c = predictor.input_shape[0]
    image = cv2.imread(path, cv2.IMREAD_COLOR if c == 3 else cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    image = image[..., ::-1] if image.ndim == 3 else image[..., None]
    return predictor.as_packed(np.ascontiguousarray(image))


def predict_parser():
    p = make_parser("mxdl-predict", "Classify image files with a trained model: top-k labels with probabilities.",
                    ["mxdl-predict runs/digits some_digit.png --top-k 3",
                     "mxdl-predict runs/cifar10_minivggnet/model-symbol.json photos/ --ten-crop"])
    p.add_argument("model", help="run dir, checkpoint dir or *-symbol.json")
    p.add_argument("images", help="an image file or a folder of images")
    p.add_argument("--top-k", type=positive_int, default=5, help="labels to print per image (default: 5)")
    p.add_argument("--ten-crop", action="store_true", help="average 10 crops (corners, center, mirrors)")
    return p


@cli_entry
def predict_main(argv=None):
    from .model_io import load_predictor
    args = predict_parser().parse_args(argv)
    predictor = load_predictor(args.model)
    files = _image_files(args.images)
    print(f"predicting with {predictor.describe()}", file=sys.stderr)
    unreadable = 0
    for path in files:
        image = _read_for(predictor, path)
        if image is None:
            print(f"{path}: cannot read this image", file=sys.stderr)
            unreadable += 1
            continue
        probs = predictor.probabilities(predictor.views(image, args.ten_crop)).mean(axis=0)
        top = np.argsort(-probs)[: args.top_k]
        print(f"{path}: " + ", ".join(f"{predictor.class_names[i]} {probs[i]:.3f}" for i in top))
    return 1 if unreadable else 0


# ---- mxdl-augment-preview ------------------------------------------------------------------------

def augment_preview_parser():
    p = make_parser("mxdl-augment-preview",
                    "Write a PNG grid of augmented copies of one image (defaults: the book's rotation 30, shift 0.1, "
                    "shear 0.2, zoom 0.2, flip), or of the first training batch of a config (--config).",
                    ["mxdl-augment-preview photo.jpg --output grid.png --rows 2 --cols 3",
                     "mxdl-augment-preview --config configs/imagenet_resnet50.yaml --output batch.png"])
    p.add_argument("image", nargs="?", help="an image file (not with --config)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (with --config)")
    p.add_argument("--config", help="a YAML experiment: show its training reader's first batch")
    p.add_argument("--output", required=True, help="PNG file to write")
    p.add_argument("--rows", type=count_up_to(64), default=4, help="rows of the grid (default: 4)")
    p.add_argument("--cols", type=count_up_to(64), default=6, help="columns of the grid (default: 6)")
    p.add_argument("--tile", type=count_up_to(1024), default=128, help="tile size in pixels (default: 128)")
    p.add_argument("--rotation", type=float, default=30.0, help="largest rotation in degrees (default: 30)")
    p.add_argument("--shift", type=float, default=0.1, help="largest shift, a fraction of the size (default: 0.1)")
    p.add_argument("--shear", type=float, default=0.2, help="largest shear (default: 0.2)")
    p.add_argument("--zoom", type=float, default=0.2, help="largest zoom in or out (default: 0.2)")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    p.add_argument("--seed", type=int, default=0, help="seed of the random augmentations (default: 0)")
    return p


@cli_entry
def augment_preview_main(argv=None):
    args = augment_preview_parser().parse_args(argv)
    if args.config:
        overrides = ([args.image] if args.image else []) + args.overrides
        tiles, what = _reader_tiles(args.config, overrides, args.rows * args.cols, args.tile)
    elif args.image:
        tiles, what = _book_tiles(args), "the original (top left) and augmented copies"
    else:
        raise UserError("give an IMAGE, or --config CONFIG to preview a training reader")
    tiles += [np.zeros_like(tiles[0])] * (args.rows * args.cols - len(tiles))
    grid = np.vstack([np.hstack(tiles[r * args.cols:(r + 1) * args.cols]) for r in range(args.rows)])
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    if not cv2.imwrite(args.output, grid):
        raise UserError(f"could not write {args.output} (a PNG path in a writable folder?)")
    print(f"wrote {args.output}: {what}")
    return 0


def _book_tiles(args):
    from ..data.augment import AugmentSettings, augment
    from ..data.preprocess import aspect_aware_resize
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"cannot read image {args.image}")
    image = aspect_aware_resize(image, args.tile, args.tile)
    settings = AugmentSettings(args.rotation, args.shift, args.shear, args.zoom, not args.no_flip)
    rng = np.random.RandomState(args.seed)
    return [image] + [augment(image, settings, rng) for _ in range(args.rows * args.cols - 1)]


def _reader_tiles(config_path, overrides, count, size):
    """The first training batch of a config, with normalisation undone, as BGR tiles."""
    from .. import config as config_mod
    from ..data import open_dataset
    cfg = config_mod.resolve(config_path, overrides)
    cfg["data"]["batch_size"] = count
    data = open_dataset(cfg)
    x, _ = next(iter(data.train_epoch(0)))
    d, stats = cfg["data"], data.manifest.stats
    pixels = x.asnumpy().transpose(0, 2, 3, 1) / d["scale"]
    if d["std_normalize"]:
        pixels *= np.asarray(stats["std"], np.float32)
    if d["mean_subtract"]:
        pixels += np.asarray(stats["mean"], np.float32)
    tiles = []
    for image in np.clip(pixels, 0, 255).astype(np.uint8):
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.shape[2] == 1 else image[..., ::-1]
        tiles.append(cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_NEAREST))
    return tiles, f"the first {len(tiles)} training images of {config_path} as the reader makes them"
