"""Resuming: which checkpoint, whether this config may continue it, and restoring its state.

A checkpoint may be resumed by another number of workers: the schedule is kept in epochs, and a
mid-epoch stop keeps its fraction of the epoch. The batch size may not change, nor anything in
the checkpoint's identity (:func:`mxdl.train.build.identity`).
"""
import os

from ..errors import UserError
from ..runs.checkpoint import EMA_PARAMS, OPT_STATES, RESUME_KEYS, load_meta, load_optimizer, load_params
from ..runs.history import History, MetricsLog
from .step import restore_loss_scaler


def find_checkpoint(saver, resume, dist, log):
    """The checkpoint ``resume`` names ("latest", an epoch, or None), as rank 0 sees it."""
    if resume is None:
        return None
    path = saver.latest() if resume == "latest" else saver.at_epoch(int(resume))
    path = dist.broadcast_object(path, "resume.path")  # every worker uses rank 0's choice
    if path is None:
        log.info(f"no checkpoint in {saver.dir}: starting from scratch")
    return path


def check_compatible(meta, expected, path):
    # A key the checkpoint lacks was added to the identity after it was written: not a difference.
    diffs = [f"{k}: checkpoint has {meta['identity'][k]!r}, config has {v!r}"
             for k, v in expected.items() if k in meta["identity"] and meta["identity"][k] != v]
    if diffs:
        raise UserError(f"cannot resume from {path}: " + "; ".join(diffs))


def segments_in_epochs(meta, scale_lr):
    """A checkpoint's lr segments as [{"epoch", "lr" per worker}] (format 1 kept global steps, scaled)."""
    if meta.get("format", 1) >= 2:
        return meta["lr_segments"]
    scale = meta["world_size"] if scale_lr else 1
    return [{"epoch": s["step"] / meta["steps_per_epoch"], "lr": s["lr"] / scale} for s in meta["lr_segments"]]


def check_geometry(meta, path, batch, world_size, spe, lr_scale, log):
    """Batch size must match; the worker count may change (the schedule is kept in epochs)."""
    if meta["batch_size"] != batch:
        raise UserError(f"{path} was trained with data.batch_size={meta['batch_size']}; resume with "
                        f"data.batch_size={meta['batch_size']} (a new batch size changes the lr rule "
                        f"and the epoch layout), or start over with --fresh")
    if meta["world_size"] == world_size and meta["steps_per_epoch"] != spe:
        raise UserError(f"{path} had {meta['steps_per_epoch']} steps per epoch and this config gives "
                        f"{spe} with the same workers and batch: the training split has changed")
    if meta["world_size"] != world_size:
        log.info(f"resuming a {meta['world_size']}-worker checkpoint with {world_size} workers: "
                 f"{meta['steps_per_epoch']} -> {spe} steps per epoch, lr x{lr_scale:g} "
                 f"of the per-worker rate, schedule kept in epochs")


def resume_step(meta, world_size, spe, log):
    """The step to continue from; a mid-epoch stop by another worker count keeps its epoch fraction."""
    step = meta["step_in_epoch"]
    if not step or meta["world_size"] == world_size:
        return step
    moved = min(spe - 1, round(step / meta["steps_per_epoch"] * spe))
    log.info(f"mid-epoch checkpoint ({step} of {meta['steps_per_epoch']} steps) taken by "
             f"{meta['world_size']} workers: epoch {meta['epoch'] + 1} continues at step {moved} of "
             f"{spe} in the {world_size}-worker layout's order; this one epoch is not "
             f"exactly-once (some records repeat or sit out)")
    return moved


def restore(run, path, lr_override):
    """The checkpoint's weights, optimizer, position, schedule and records into ``run``."""
    meta = load_meta(path, RESUME_KEYS)
    check_compatible(meta, run.identity, path)
    check_geometry(meta, path, run.cfg["data"]["batch_size"], run.dist.size, run.spe, run.schedule.scale, run.log)
    load_params(run.net, path, run.ctx, cast_dtype=True)
    load_optimizer(run.trainer, os.path.join(path, OPT_STATES), meta["optimizer"], run.ctx)
    run.start_epoch, run.start_step = meta["epoch"], resume_step(meta, run.dist.size, run.spe, run.log)
    if run.start_step and meta.get("epoch_so_far"):   # older checkpoints lack it: figures from the resume on
        run.carried = tuple(meta["epoch_so_far"])
    run.schedule.segments = segments_in_epochs(meta, run.cfg["optim"]["scale_lr"])
    run.history = History.load(run.run_dir, meta["epoch"])
    step = run.global_step(run.start_epoch, run.start_step)
    if run.dist.primary:  # the steps after the checkpoint are trained again: their lines go
        MetricsLog(run.run_dir).truncate(meta.get("global_step", step))
    if lr_override is not None:
        run.schedule.add_segment(run.schedule.epoch_at(step), lr_override)
        run.history.note({"epoch": run.start_epoch, "step": step, "event": "lr set on resume",
                          "lr": lr_override * run.schedule.scale})
    run.log.info(f"resumed from {path} at epoch {run.start_epoch} step {run.start_step}")


def restore_step_state(run, path):
    """The weights' average, the skipped-step count and AMP's loss scale continue from the
    checkpoint's (a checkpoint without an average starts one there)."""
    ema = run.stepper.ema
    if ema is not None and os.path.isfile(os.path.join(path, EMA_PARAMS)):
        ema.load(os.path.join(path, EMA_PARAMS), run.ctx)
    meta = load_meta(path)
    run.stepper.carry_skipped(meta.get("skipped_steps", 0))
    restore_loss_scaler(run.trainer, meta.get("amp_loss_scaler"))
