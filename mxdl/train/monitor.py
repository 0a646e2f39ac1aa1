"""The training monitor: per-epoch history as JSON, CSV and a PNG of the curves.

Rewritten whole (atomically) after every epoch, so an interrupted run always
leaves files that match its last checkpoint's epoch. On resume the history is
cut back to the checkpoint's epoch, so the curves continue without duplicates.
"""
import csv
import io
import json
import os

from ..fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

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
        with open(path) as f:
            data = json.load(f)
        return cls(run_dir, [e for e in data["epochs"] if e["epoch"] <= upto_epoch], data.get("events"))

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
