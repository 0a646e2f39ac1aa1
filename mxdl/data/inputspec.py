"""The input contract: how an image becomes what the network was validated on.

Built once per run from the shards' manifest and the data config, stored in every checkpoint's
meta (``preprocess``), and read by evaluation, prediction, feature extraction and the exports;
``steps`` spells it out, in order, for ``model-preprocess.json`` and a server that follows it.

    channels   from the input shape: RGB (3) or grey (1), NCHW float32 into the network
    pack       the resize mxdl-pack gave every image (preprocess.pack_geometry)
    resize     validation's shorter-side resize (data.val_resize, else data.resize), as
               ImageRecordIter does it: bilinear, sides floored; 0 for HDF5, whose reader crops
    crop       the center data.shape[1:] of it
    mean/scale (pixel - mean) * scale, per channel (scale folds in 1/std with data.std_normalize)
"""
from .preprocess import geometry_from_options, pack_geometry


def build(manifest, data_cfg, shape):
    """The run's input specification (a JSON-able dict)."""
    rec = data_cfg["format"] == "rec"  # the HDF5 reader crops its fixed-size rows, with mean and scale only
    stats = manifest.stats
    scale = [data_cfg["scale"] / s for s in stats["std"]] if data_cfg["std_normalize"] and rec else data_cfg["scale"]
    return {"mean": stats["mean"] if data_cfg["mean_subtract"] else None, "scale": scale,
            "resize": (data_cfg["val_resize"] or data_cfg["resize"]) if rec else 0,
            "input_shape": list(shape), "class_names": manifest.class_names,
            "pack": geometry_from_options(manifest.options)}


def pack_of(spec):
    """The packer's resize; models from before it was recorded get what prediction always did
    with them: aspect-aware to the input size."""
    c, h, w = spec["input_shape"]
    return spec.get("pack") or pack_geometry(width=w, height=h)


def steps(spec):
    """The specification as the ordered steps a server performs (``model-preprocess.json``)."""
    c, h, w = spec["input_shape"]
    out = [{"op": "decode", "channels": "RGB" if c == 3 else "GRAY"}]
    pack = pack_of(spec)
    if pack["mode"] == "aspect_aware":
        out.append({"op": "aspect_aware_resize", "width": pack["width"], "height": pack["height"],
                    "interpolation": "area", "rounding": "round"})
    elif pack["mode"] == "shorter_side":
        out.append({"op": "resize_shorter", "size": pack["size"], "interpolation": "area", "rounding": "round"})
    if spec.get("resize"):
        out.append({"op": "resize_shorter", "size": spec["resize"], "interpolation": "bilinear", "rounding": "floor"})
    out.append({"op": "center_crop", "width": w, "height": h,
                "if_smaller": "bilinear: a short image's height to the crop's, then a narrow one's width to "
                              "the crop's, each keeping the aspect with the other side floored"})
    out.append({"op": "normalize", "formula": "(pixel - mean) * scale", "mean": spec.get("mean"),
                "scale": spec.get("scale")})
    return out
