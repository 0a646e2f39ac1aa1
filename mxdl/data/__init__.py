"""Input pipelines: RecordIO through ImageRecordIter, HDF5 through a numpy generator.

``open_dataset`` hides which one is used: the trainer only calls
``train_epoch(epoch, skip)``, ``val_batches()`` and reads ``steps_per_epoch``.
"""
from ..errors import UserError


def open_dataset(cfg, rank=0, size=1):
    from .shards import open_manifest
    data_dir = cfg["data"]["dir"]
    manifest = open_manifest(data_dir)
    fmt = cfg["data"]["format"]
    if manifest["format"] != fmt:
        raise UserError(f"data.format is {fmt} but {data_dir} holds {manifest['format']} shards; "
                        f"set data.format={manifest['format']}")
    for key in ("train_split", "val_split"):
        split = cfg["data"][key]
        if split and split not in manifest["splits"]:
            raise UserError(f"data.{key}: split '{split}' is not in {data_dir} "
                            f"(it has {', '.join(manifest['splits'])})")
    if fmt == "rec" and cfg["data"]["shift"]:
        raise UserError("data.shift is for HDF5 input; with RecordIO use data.pad=N and data.rand_crop=true")
    mean = manifest["stats"]["mean"]
    if fmt == "rec":
        from .recordio import RecordDataset
        return RecordDataset(data_dir, manifest, cfg["data"], rank, size, cfg["train"]["seed"], mean)
    from .hdf5 import H5Dataset
    return H5Dataset(data_dir, manifest, cfg["data"], rank, size, cfg["train"]["seed"], mean)

