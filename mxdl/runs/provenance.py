"""What a run was trained with, kept across resumes: ``RUN/config.yaml`` and its earlier versions.

A resume may change keys that are not part of the checkpoint's identity (the learning rate, the
number of epochs, augmentation). Each change is returned for the log, and the config the run had
until then is kept as ``config-EPOCH.yaml`` (EPOCH: the epoch the resume starts from), so the
history of a run can always be read back.
"""
import os
import shutil

from .. import config as config_mod
from .layout import CONFIG


def record_config(run_dir, cfg, resumed_at=None):
    """Write ``RUN/config.yaml``; on a resume (``resumed_at``: its epoch), return the differences from
    the config the run had, keeping that one as ``config-EPOCH.yaml`` when there are any."""
    path = os.path.join(run_dir, CONFIG)
    changes = []
    if resumed_at is not None and os.path.isfile(path):
        earlier = config_mod.load_resolved(path)
        changes = config_mod.diff(earlier, cfg) if earlier is not None else ["the earlier config.yaml did not read"]
        if changes:
            shutil.copy2(path, os.path.join(run_dir, f"config-{resumed_at:04d}.yaml"))
    config_mod.dump(cfg, path)
    return changes
