"""What a run records as it trains: the per-epoch history and the per-step metrics.

- ``history.json``, ``history.csv`` and ``curves.png``: rewritten whole (atomically) after every
  epoch, so an interrupted run always leaves files that match its last checkpoint's epoch.
- ``metrics.jsonl``: one line per step, appended at each log interval.

On resume both are cut back to the checkpoint, so the curves and the step log continue without
the replayed steps appearing twice.
"""
import csv
import io
import json
import os

from ..errors import UserError
from ..fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from .layout import METRICS

TOP5_MIN_CLASSES = 6  # with 5 classes or fewer every label is in the top 5: rank-5 cannot fail


def reports_top5(classes):
    """Whether top-5 accuracy means anything for this many classes (it is still recorded)."""
    return classes >= TOP5_MIN_CLASSES


COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "train_top5", "val_loss", "val_acc", "val_top5",
           "ema_val_loss", "ema_val_acc", "ema_val_top5", "skipped_steps", "images_per_sec", "data_wait", "seconds"]


class History:
    def __init__(self, run_dir, entries=None, events=None):
        self.run_dir = run_dir
        self.entries = list(entries or [])
        self.events = list(events or [])  # e.g. lr changes given on resume

    @classmethod
    def load(cls, run_dir, upto_epoch):
        path = os.path.join(run_dir, "history.json")
        if not os.path.isfile(path):
            return cls(run_dir)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            entries = [e for e in data["epochs"] if e["epoch"] <= upto_epoch]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise UserError(f"{path} is damaged (not the history mxdl writes): restore it, or remove it "
                            "to start the history afresh") from None
        return cls(run_dir, entries, data.get("events"))

    def append(self, entry):
        self.entries.append(entry)
        self.save()

    def note(self, event):
        self.events.append(event)

    def save(self):
        atomic_write_json(os.path.join(self.run_dir, "history.json"),
                          {"epochs": self.entries, "events": self.events})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.entries)
        atomic_write_text(os.path.join(self.run_dir, "history.csv"), buf.getvalue())
        if self.entries:
            self.plot(os.path.join(self.run_dir, "curves.png"))

    def plot(self, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        epochs = [e["epoch"] for e in self.entries]
        fig, ax = plt.subplots(figsize=(8, 5))
        for key, style in (("train_loss", "-"), ("val_loss", "-"), ("train_acc", "--"), ("val_acc", "--")):
            values = [e.get(key) for e in self.entries]
            if any(v is not None for v in values):
                ax.plot(epochs, [float("nan") if v is None else v for v in values], style, label=key)
        for event in self.events:
            if event.get("epoch") is not None:
                ax.axvline(event["epoch"], color="gray", lw=0.8, ls=":")
        ax.set_title(f"Training Loss and Accuracy [Epoch {epochs[-1]}]")
        ax.set_xlabel("Epoch #")
        ax.set_ylabel("Loss/Accuracy")
        ax.legend(loc="best")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())


class MetricsLog:
    """``RUN/metrics.jsonl``: one JSON line per step, its ``global_step`` counting steps done."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, METRICS)

    def append(self, rows):
        with open(self.path, "a") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)

    def truncate(self, global_step):
        """Keep the steps up to ``global_step`` (a resume replays the ones after it); returns how
        many lines went."""
        if not os.path.isfile(self.path):
            return 0
        with open(self.path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        kept = [line for line in lines if _step_of(line) is not None and _step_of(line) <= global_step]
        if len(kept) != len(lines):
            atomic_write_text(self.path, "".join(kept))
        return len(lines) - len(kept)


def _step_of(line):
    try:
        return int(json.loads(line)["global_step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a kill: dropped with the replayed steps
