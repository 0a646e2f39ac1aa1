"""``mxdl-pack``: build, verify and inspect RecordIO/HDF5 shards.

Examples::

    mxdl-pack build ~/data/animals shards/animals --split train=0.75,val=0.125,test=0.125 --size 32x32
    mxdl-pack build ~/data/cifar10 shards/cifar10 --shards 8 --workers 8 --split train=0.9,val=0.1
    mxdl-pack build ~/data/tiny-imagenet-200 shards/tiny --split train=0,test=10000
    mxdl-pack build ~/data/imagenet shards/imagenet --pass-through --shards 1024   # train/ val/ folders
    mxdl-pack build ~/data/flowers shards/flowers --split train=0.9,val=0.1         # val carved from train/
    mxdl-pack verify shards/animals
    mxdl-pack inspect shards/animals --grid sheet.png
    mxdl-pack digits data/digits-images      # scikit-learn's digits as a folder tree
    mxdl-pack adopt shards/im2rec --split train=data_train --split val=data_val   # im2rec output
"""
import argparse
import sys

from mxdl.errors import UserError, cli_entry
from .listing import LAYOUTS


def _parser():
    p = argparse.ArgumentParser(prog="mxdl-pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="pack images into shards")
    b.add_argument("src", help="class-per-folder tree, CSV/TSV of path,label, .lst, or Tiny ImageNet root")
    b.add_argument("out", help="output directory")
    b.add_argument("--format", choices=("rec", "hdf5"), default="rec")
    b.add_argument("--layout", choices=sorted(LAYOUTS), help="input layout (default: detected)")
    b.add_argument("--shards", type=int, default=1, help="shards per split")
    b.add_argument("--split", help="e.g. train=0.8,val=0.1,test=0.1 or val=500,test=500,train=0 "
                                   "(stratified by class; default: everything is train). With train/ val/ "
                                   "test/ folders, it carves from train/: train=0.9,val=0.1")
    b.add_argument("--merge-splits", action="store_true",
                   help="pool the train/ val/ test/ folders before --split, to re-split them")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--resize", type=int, default=0, help="resize the shorter side to S pixels")
    g.add_argument("--size", help="WxH: resize the shorter side, then center-crop (aspect-aware)")
    b.add_argument("--quality", type=int, default=95, help="JPEG quality (or PNG compression 0-9)")
    b.add_argument("--png", action="store_true", help="encode records as PNG (lossless)")
    b.add_argument("--pass-through", action="store_true", help="store original file bytes")
    b.add_argument("--gray", action="store_true", help="store one grayscale channel")
    b.add_argument("--compression", choices=("gzip", "lzf"), help="HDF5 compression")
    b.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    b.add_argument("--seed", type=int, default=0, help="seed for the split and shuffling")
    b.add_argument("--overwrite", action="store_true", help="replace shards of a different build")
    v = sub.add_parser("verify", help="re-read every record and check it against the manifest")
    v.add_argument("out")
    i = sub.add_parser("inspect", help="print a summary; optionally write a contact sheet")
    i.add_argument("out")
    i.add_argument("--grid", help="PNG path for a contact sheet")
    i.add_argument("--per-class", type=int, default=8)
    i.add_argument("--split", default="train")
    a = sub.add_parser("adopt", help="write a manifest for shards made by MXNet's tools/im2rec.py")
    a.add_argument("out", help="directory holding the im2rec .rec/.idx files")
    a.add_argument("--split", action="append", required=True, metavar="NAME=PREFIX",
                   help="e.g. train=mydata_train (repeat per split)")
    a.add_argument("--classes", help="text file with one class name per line, in label order")
    d = sub.add_parser("digits", help="export scikit-learn's digits as a class-per-folder tree")
    d.add_argument("out")
    return p


@cli_entry
def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "build":
        from .pack import build
        build(args.src, args.out, fmt=args.format, shards=args.shards, split=args.split,
              resize=args.resize, size=args.size, quality=args.quality,
              encoding=".png" if args.png else ".jpg", pass_through=args.pass_through,
              color=not args.gray, workers=args.workers or None, seed=args.seed,
              layout=args.layout, compression=args.compression, overwrite=args.overwrite,
              merge_splits=args.merge_splits)
    elif args.command == "verify":
        from .verify import verify
        problems = verify(args.out)
        for line in problems:
            print(f"FAIL {line}")
        print(f"{args.out}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    elif args.command == "inspect":
        from .inspect import contact_sheet, summary
        print(summary(args.out))
        if args.grid:
            print(f"contact sheet: {contact_sheet(args.out, args.grid, args.per_class, args.split)}")
    elif args.command == "adopt":
        from .adopt import adopt
        splits = dict(s.split("=", 1) for s in args.split if "=" in s)
        if len(splits) != len(args.split):
            raise UserError("--split takes NAME=PREFIX, e.g. train=mydata_train")
        classes = None
        if args.classes:
            with open(args.classes) as f:
                classes = [line.strip() for line in f if line.strip()]
        adopt(args.out, splits, classes)
    elif args.command == "digits":
        from .digits import export_digits
        print(f"wrote {export_digits(args.out)} digit images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
