"""``mxdl-runs compare``: several runs' curves in one PNG, the way the book sets learning-rate
schedules or regularisers side by side.

    mxdl-runs compare runs/step runs/poly runs/cosine --output schedules.png
"""
import io
import os

from ..cli_help import add_command, make_parser
from ..errors import UserError, cli_entry
from ..fileio import atomic_write_bytes

PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_acc", "val_acc")))


def load_history(run):
    from ..runs.history import History
    history = History.load(run, float("inf"))
    if not history.entries:
        raise UserError(f"{run} has no history.json with epochs: not a run folder, or no epoch finished")
    return history.entries


def compare(runs, output, labels=None):
    """One PNG: a loss panel and an accuracy panel, a colour per run (train dashed, validation solid)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = labels or [os.path.basename(os.path.normpath(r)) for r in runs]
    histories = [load_history(r) for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (title, keys), ax in zip(PANELS, axes):
        for i, (label, entries) in enumerate(zip(labels, histories)):
            for key in keys:
                points = [(e["epoch"], e[key]) for e in entries if e.get(key) is not None]
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, "--" if key.startswith("train") else "-", color=f"C{i % 10}",
                            label=f"{label} {key.split('_')[0]}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(loc="best", fontsize="small")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(output, buf.getvalue())
    return [max((e["val_acc"] for e in entries if e.get("val_acc") is not None), default=None) for entries in histories]


def build_parser():
    p = make_parser("mxdl-runs", "Look at several runs together.",
                    ["mxdl-runs compare runs/step runs/cosine --output schedules.png"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    c = add_command(sub, "compare", "loss and accuracy curves of several runs in one PNG",
                    ["mxdl-runs compare runs/a runs/b --output ab.png --label 'lr 0.1' --label 'lr 0.01'"])
    c.add_argument("runs", nargs="+", help="run folders (with history.json)")
    c.add_argument("--output", required=True, help="PNG to write")
    c.add_argument("--label", action="append", help="a name per run, in order (default: folder names)")
    return p


@cli_entry
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        raise UserError(f"give one --label per run: {len(args.runs)} runs, {len(args.label)} labels")
    best = compare(args.runs, args.output, args.label)
    for run, acc in zip(args.runs, best):
        print(f"{run}: best validation accuracy {acc:.4f}" if acc is not None else f"{run}: no validation")
    print(f"wrote {args.output}")
    return 0
