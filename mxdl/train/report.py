"""The lines a run writes to its log: at the start, while an epoch runs, after each epoch, at the end.

Each is a pure function of numbers the loop already has, so what a user reads is tested without
training.
"""
from ..runs.history import reports_top5
from .tracking import eta_text


def shape_text(shape):
    return "x".join(map(str, shape))


def start_line(cfg, classes, shape, world_size, ctx):
    amp = f", AMP {cfg['train']['amp']} with dynamic loss scaling" if cfg["train"]["amp"] else ""
    return (f"{cfg['model']['name']} on {classes} classes, input {shape_text(shape)}, {world_size} worker(s) on "
            f"{ctx}, batch {cfg['data']['batch_size']}/worker{amp}")


def coverage_line(cfg, spe, world_size, shape, data):
    d = cfg["data"]
    if d["synthetic"]:
        return (f"synthetic data: {spe} steps/epoch of random {shape_text(shape)} tensors, no I/O; "
                f"validation skipped")
    drawn = spe * d["batch_size"] * world_size
    return (f"each epoch draws {drawn} of the {data.train_count} '{d['train_split']}' records once; "
            f"{data.dropped_per_epoch} (fewer than one global batch) sit out, a different set each epoch")


def progress_line(epoch, step, spe, loss, top1, rate, lr, wait_share, eta_seconds):
    eta = f" eta {eta_text(eta_seconds)}" if eta_seconds is not None else ""
    return (f"epoch {epoch + 1} [{step}/{spe}] loss {loss:.4f} acc {top1:.4f} {rate:.0f} img/s lr {lr:.3g} "
            f"data-wait {wait_share:.0%}{eta}")


def _top5(e, classes, form):
    return form.format(e["val_top5"]) if reports_top5(classes) else ""


def epoch_line(e, epochs, eta_seconds, classes):
    val = (f" | val loss {e['val_loss']:.4f} acc {e['val_acc']:.4f}{_top5(e, classes, ' top5 {:.4f}')}"
           if "val_acc" in e else "")
    if "ema_val_acc" in e:
        val += f" (EMA acc {e['ema_val_acc']:.4f})"
    skipped = f", {e['skipped_steps']} non-finite steps skipped so far" if e.get("skipped_steps") else ""
    eta = f", eta {eta_text(eta_seconds)}" if eta_seconds is not None and e["epoch"] < epochs else ""
    return (f"epoch {e['epoch']}/{epochs} lr {e['lr']:.3g} | train loss {e['train_loss']:.4f} "
            f"acc {e['train_acc']:.4f}{val} | {e['images_per_sec']:.0f} img/s, "
            f"data-wait {e['data_wait']:.0%}, {e['seconds']:.1f}s{skipped}{eta}")


def finished_line(last, epochs, classes):
    if "val_acc" not in last:
        return f"finished {epochs} epochs"
    return (f"finished: validation accuracy {last['val_acc']:.4f}{_top5(last, classes, ' (top-5 {:.4f})')} after "
            f"{epochs} epochs")


def stopped_line(epoch, step, spe, path):
    where = f"after step {step} of {spe} in epoch {epoch + 1}" if step else f"at the end of epoch {epoch}"
    return f"stopped {where}; checkpoint {path}"
