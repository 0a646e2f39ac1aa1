"""Input pipelines: RecordIO through ImageRecordIter, HDF5 through a numpy generator,
and random tensors for measuring compute alone.

``open_dataset`` hides which one is used: the trainer only calls
``train_epoch(epoch, skip)``, ``val_batches()`` and reads ``steps_per_epoch``.
Which records each worker reads is decided in ``epoch_plan``.
"""
from ..errors import UserError


def open_dataset(cfg, rank=0, size=1):
    from .manifest import Manifest
    d = cfg["data"]
    if d["threads"] == "auto":  # callers other than the trainer (which logs its choice) take the budget's
        from ..budget import here
        d = {**d, "threads": here().decode}
        cfg = {**cfg, "data": d}
    if d["synthetic"]:
        from .synthetic import SyntheticDataset
        return SyntheticDataset(d, rank, size, cfg["train"]["seed"])
    if not d["dir"]:
        raise UserError("config key 'data.dir' is required: set it in the YAML file or as data.dir=... "
                        "(or data.synthetic=true to train on random tensors)")
    data_dir = d["dir"]
    manifest = Manifest.load(data_dir)
    fmt = d["format"]
    if manifest.format != fmt:
        raise UserError(f"data.format is {fmt} but {data_dir} holds {manifest.format} shards; "
                        f"set data.format={manifest.format}")
    for key in ("train_split", "val_split"):
        split = d[key]
        if split and split not in manifest.splits:
            raise UserError(f"data.{key}: split '{split}' is not in {data_dir} "
                            f"(it has {', '.join(manifest.splits)})")
    if fmt == "rec" and d["shift"]:
        raise UserError("data.shift is for HDF5 input; with RecordIO use data.pad=N and data.rand_crop=true")
    if fmt == "hdf5" and (d["random_resized_crop"] or d["std_normalize"] or
                          any(d[k] for k in ("brightness", "contrast", "saturation", "pca_noise"))):
        raise UserError("data.random_resized_crop, std_normalize and the colour jitters are RecordIO options "
                        "(ImageRecordIter's own); pack with --format rec to use them")
    stats = manifest.stats
    if fmt == "rec":
        from .recordio import RecordDataset
        return RecordDataset(data_dir, manifest, d, rank, size, cfg["train"]["seed"], stats["mean"],
                             stats.get("std"))
    from .hdf5 import H5Dataset
    return H5Dataset(data_dir, manifest, d, rank, size, cfg["train"]["seed"], stats["mean"])
