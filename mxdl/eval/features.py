"""``mxdl-features``: the book's transfer learning by feature extraction.

    mxdl-features extract MODEL DATA --output feats/ [--split train --split test] [--layer NAME]
    mxdl-features extract --gluoncv vgg16 --params ~/vgg16-e660d456.params DATA --output feats/
    mxdl-features logreg feats/ [--train train --test test] [--output feats/logreg.pkl]

``extract`` runs a network up to a layer (default: the body, ``features``) over
each split and writes ``OUT/<split>.h5`` with ``features`` (N x D float32),
``labels`` and ``label_names``, flushed every 1,000 rows. Pretrained ImageNet
weights cannot be downloaded here: ``--gluoncv NAME --params FILE`` builds
gluoncv's model-zoo network and loads a local parameter file into it.
``logreg`` fits scikit-learn's logistic regression with a grid search over C,
prints rank-1/rank-5 and the classification report, and saves the classifier.
"""
import os
import pickle
import sys

import numpy as np

from ..cli_help import add_command, make_parser, positive_int
from ..errors import UserError, cli_entry, error_reason
from ..models.pretrained import read_parameter_file
from ..fileio import atomic_write_bytes
from .evaluate import iter_split
from .metrics import accuracy_text, rank_k, report

IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def cut_at_layer(net, layer):
    """A block computing ``net`` up to the output named ``layer`` (a symbol internal)."""
    import mxnet as mx
    if layer is None:
        if hasattr(net, "features"):
            return net.features
        raise UserError("this model has no 'features' body: name a layer with --layer")
    data = mx.sym.var("data")
    out = net(data)
    internals = (out[0] if isinstance(out, (tuple, list)) else out).get_internals()
    names = internals.list_outputs()
    wanted = layer if layer.endswith("_output") else layer + "_output"
    if wanted not in names:
        choices = [n[: -len("_output")] for n in names if n.endswith("_output")][-12:]
        raise UserError(f"no layer '{layer}' in the model; the last ones are: {', '.join(choices)}")
    return mx.gluon.SymbolBlock(internals[wanted], data, params=net.collect_params())


def _gluoncv_name(name):
    """The model-zoo name, or one line with the nearest ones (gluoncv's own error lists all ~300)."""
    import difflib
    from gluoncv.model_zoo import get_model_list
    names = get_model_list()
    if name.lower() not in names:
        near = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
        raise UserError(f"--gluoncv {name} is not a gluoncv model-zoo name" +
                        (f" (did you mean {', '.join(near)}?)" if near else ""))
    return name.lower()


def gluoncv_predictor(name, params, input_shape):
    import mxnet as mx
    from gluoncv.model_zoo import get_model
    from ..topology import device
    from .model_io import Predictor
    if not os.path.isfile(params):
        raise UserError(f"parameter file not found: {params} (pretrained weights cannot be downloaded here)")
    ctx = device()
    net = get_model(_gluoncv_name(name), pretrained=False)
    read_parameter_file(params)   # not a parameter file at all: one line, before gluoncv's trace
    try:
        net.load_parameters(params, ctx=ctx)
    except (AssertionError, mx.base.MXNetError) as err:
        raise UserError(f"{params} does not fit gluoncv's {name}: {error_reason(err)}") from None
    net.hybridize()
    scale = [1.0 / s for s in IMAGENET_STD]
    return Predictor(net, [], tuple(input_shape), IMAGENET_MEAN, np.asarray(scale, np.float32), f"gluoncv:{name}", ctx)


class H5FeatureWriter:
    """The book's HDF5 writer: rows buffered and flushed every ``buffer_rows``."""

    def __init__(self, path, dim, rows, class_names, buffer_rows=1000):
        import h5py
        self.tmp, self.path = path + ".tmp", path
        self.file = h5py.File(self.tmp, "w")
        self.features = self.file.create_dataset("features", (rows, dim), dtype="float32")
        self.labels = self.file.create_dataset("labels", (rows,), dtype="int64")
        self.file.create_dataset("label_names", data=np.array(class_names, dtype=object),
                                 dtype=h5py.string_dtype())
        self.buffer_rows, self.buf_x, self.buf_y, self.row = buffer_rows, [], [], 0

    def add(self, features, labels):
        self.buf_x.extend(features)
        self.buf_y.extend(labels)
        if len(self.buf_x) >= self.buffer_rows:
            self.flush()

    def flush(self):
        if self.buf_x:
            end = self.row + len(self.buf_x)
            self.features[self.row: end] = np.asarray(self.buf_x)
            self.labels[self.row: end] = self.buf_y
            self.row, self.buf_x, self.buf_y = end, [], []

    def close(self):
        self.flush()
        self.file.close()
        os.replace(self.tmp, self.path)


def extract(predictor, body, data_dir, split, out_path, class_names, batch=64):
    from ..data.manifest import Manifest
    rows = Manifest.load(data_dir).split(split).records
    writer, images, labels = None, [], []

    def run():
        nonlocal writer
        feats = body(predictor.prepare(np.concatenate(images))).asnumpy().reshape(len(images), -1)
        if writer is None:
            writer = H5FeatureWriter(out_path, feats.shape[1], rows, class_names)
        writer.add(feats, labels)
        images.clear()
        labels.clear()

    for _, label, image in iter_split(data_dir, split):
        images.append(predictor.views(image))
        labels.append(label)
        if len(images) >= batch:
            run()
    if images:
        run()
    writer.close()
    return writer.row


def load_features(path):
    import h5py
    if not os.path.isfile(path):
        raise UserError(f"feature file not found: {path}")
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["label_names"][:]]
        return f["features"][:], f["labels"][:], names


def logreg(feature_dir, train, test, out, cs=(0.1, 1.0, 10.0, 100.0, 1000.0), jobs=1):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    x_train, y_train, names = load_features(os.path.join(feature_dir, f"{train}.h5"))
    x_test, y_test, _ = load_features(os.path.join(feature_dir, f"{test}.h5"))
    from ..log import still_working
    search = GridSearchCV(LogisticRegression(max_iter=2000), {"C": list(cs)}, cv=3, n_jobs=jobs)
    print(f"logistic regression on {len(x_train)} x {x_train.shape[1]} features: {len(cs)} values of C, 3 folds")
    with still_working("grid search over C"):
        search.fit(x_train, y_train)
    probs = search.best_estimator_.predict_proba(x_test)
    full = np.zeros((len(x_test), len(names)))
    full[:, search.best_estimator_.classes_] = probs  # classes absent from train stay at 0
    atomic_write_bytes(out, pickle.dumps({"classifier": search.best_estimator_, "label_names": names}))
    return search.best_params_["C"], rank_k(full, y_test, 1), rank_k(full, y_test, 5), report(full, y_test, names)


def build_parser():
    p = make_parser("mxdl-features", "The book's transfer learning by feature extraction: network features "
                    "to HDF5, then logistic regression on them.", [
        "mxdl-features extract runs/flowers17 shards/flowers17 --output feats/",
        "mxdl-features extract --gluoncv vgg16 --params ~/vgg16-e660d456.params shards/flowers17 --output feats/",
        "mxdl-features logreg feats/ --train train --test val"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    e = add_command(sub, "extract", "write network features of each split to OUTPUT/<split>.h5", [
        "mxdl-features extract runs/flowers17 shards/flowers17 --output feats/ --split train --split val",
        "mxdl-features extract --gluoncv resnet50_v1 --params r50.params shards/animals --output feats/"])
    e.add_argument("model", nargs="?", help="run dir, checkpoint dir or *-symbol.json (or use --gluoncv)")
    e.add_argument("data", help="shard directory written by mxdl-pack build")
    e.add_argument("--output", required=True, help="output directory for <split>.h5")
    e.add_argument("--split", action="append", help="a split to extract; repeat for more (default: every split)")
    e.add_argument("--layer", help="output of this layer (default: the model's body)")
    e.add_argument("--gluoncv", help="gluoncv model-zoo name, with --params")
    e.add_argument("--params", help="local .params file for --gluoncv")
    e.add_argument("--input", default="3x224x224", help="CxHxW for --gluoncv models (default: 3x224x224)")
    lr = add_command(sub, "logreg", "logistic regression on extracted features, grid search over C",
                     ["mxdl-features logreg feats/ --train train --test test"])
    lr.add_argument("features", help="directory written by extract")
    lr.add_argument("--train", default="train", help="split whose features train the classifier (default: train)")
    lr.add_argument("--test", default="test", help="split whose features it is scored on (default: test)")
    lr.add_argument("--output", help="classifier pickle (default: FEATURES/logreg.pkl)")
    lr.add_argument("--jobs", type=positive_int, default=1, help="parallel jobs of the grid search (default: 1)")
    return p


@cli_entry
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "extract":
        _extract_command(args)
    else:
        out = args.output or os.path.join(args.features, "logreg.pkl")
        c, r1, r5, text = logreg(args.features, args.train, args.test, out, jobs=args.jobs)
        print(text)
        classes = len(load_features(os.path.join(args.features, f"{args.test}.h5"))[2])
        print(f"best C={c}; {accuracy_text(r1, r5, classes)}; classifier saved to {out}")
    return 0


def _extract_command(args):
    from ..data.manifest import Manifest
    from ..models.cli import parse_shape
    from .model_io import load_predictor
    if args.gluoncv:
        if not args.params:
            raise UserError("--gluoncv needs --params FILE (a local parameter file)")
        predictor = gluoncv_predictor(args.gluoncv, args.params, parse_shape(args.input))
    elif args.model:
        predictor = load_predictor(args.model)
    else:
        raise UserError("give a MODEL, or --gluoncv NAME --params FILE")
    print(f"extracting features with {predictor.describe()}")
    manifest = Manifest.load(args.data)
    body = cut_at_layer(predictor.net, args.layer)
    os.makedirs(args.output, exist_ok=True)
    for split in args.split or list(manifest.splits):
        path = os.path.join(args.output, f"{split}.h5")
        extract(predictor, body, args.data, split, path, manifest.class_names)
        print(f"wrote {path}")

if __name__ == "__main__":
    sys.exit(main())
