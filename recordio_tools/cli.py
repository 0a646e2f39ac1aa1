"""``mxdl-pack``: build, verify, inspect and adopt RecordIO/HDF5 shards."""
import sys

from mxdl.cli_help import add_command, count_up_to, make_parser, positive_int
from mxdl.errors import UserError, cli_entry
from .listing import LAYOUTS


def build_parser():
    p = make_parser("mxdl-pack", __doc__, [
        "mxdl-pack build ~/data/animals shards/animals --split-sizes train=0.75,val=0.125,test=0.125 --size 32x32",
        "mxdl-pack build ~/data/imagenet shards/imagenet --pass-through --shards 1024   # train/ val/ folders",
        "mxdl-pack verify shards/animals",
        "mxdl-pack inspect shards/animals --grid sheet.png"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    _add_build(sub)
    _add_others(sub)
    return p


def _add_build(sub):
    b = add_command(sub, "build", "pack images into shards; re-running the same command resumes it", [
        "mxdl-pack build ~/data/animals shards/animals --split-sizes train=0.75,val=0.125,test=0.125 --size 32x32",
        "mxdl-pack build ~/data/cifar10 shards/cifar10 --shards 8 --split-sizes train=0.9,val=0.1",
        "mxdl-pack build ~/data/tiny-imagenet-200 shards/tiny --split-sizes train=0,test=10000",
        "mxdl-pack build ~/data/imagenet shards/imagenet --pass-through --shards 1024   # train/ val/ folders",
        "mxdl-pack build ~/data/flowers shards/flowers --split-sizes train=0.9,val=0.1  # val carved from train/"])
    b.add_argument("src", help="class-per-folder tree, train/ val/ test/ folders, CSV/TSV of path,label, "
                               ".lst, or a Tiny ImageNet root")
    b.add_argument("output", help="shard directory to write")
    b.add_argument("--format", choices=("rec", "hdf5"), default="rec", help="RecordIO (default) or HDF5")
    b.add_argument("--layout", choices=sorted(LAYOUTS), help="input layout (default: detected)")
    b.add_argument("--shards", type=positive_int, default=1, help="shards per split (default: 1)")
    b.add_argument("--split-sizes", metavar="SPEC",
                   help="stratified split by fractions or counts, e.g. train=0.8,val=0.1,test=0.1 or "
                        "val=500,test=500,train=0 (default: everything is train); with train/ val/ test/ "
                        "folders it carves from train/")
    b.add_argument("--merge-splits", action="store_true",
                   help="pool the train/ val/ test/ folders before --split-sizes, to re-split them")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--resize", type=int, default=0, metavar="S", help="resize the shorter side to S pixels")
    g.add_argument("--size", metavar="WxH", help="resize the shorter side, then center-crop to WxH")
    b.add_argument("--quality", type=int, help="JPEG quality 1-100 (default 95), or PNG compression 0-9 (default 9)")
    b.add_argument("--png", action="store_true", help="encode records as PNG (lossless)")
    b.add_argument("--pass-through", action="store_true", help="store the original file bytes, not re-encoded")
    b.add_argument("--gray", action="store_true", help="store one grayscale channel")
    b.add_argument("--compression", choices=("gzip", "lzf"), help="HDF5 compression (default: none)")
    b.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    b.add_argument("--seed", type=int, default=0, help="seed for the split and shuffling (default: 0)")
    b.add_argument("--overwrite", action="store_true", help="replace shards of a different build")
    b.add_argument("--follow-links", action="store_true",
                   help="walk into linked folders (each real folder once); by default they are skipped")


def _add_others(sub):
    v = add_command(sub, "verify", "re-read every record and check it against the manifest",
                    ["mxdl-pack verify shards/animals"])
    v.add_argument("shards", help="shard directory written by mxdl-pack build or adopt")
    i = add_command(sub, "inspect", "print a summary; optionally write a contact sheet PNG",
                    ["mxdl-pack inspect shards/animals", "mxdl-pack inspect shards/animals --grid sheet.png --split val"])
    i.add_argument("shards", help="shard directory written by mxdl-pack build or adopt")
    i.add_argument("--grid", metavar="PNG", help="write a contact sheet (a row of samples per class) here")
    i.add_argument("--per-class", type=count_up_to(200), default=8,
                   help="samples per class in the contact sheet (at most 200)")
    i.add_argument("--split", default="train", help="split the contact sheet samples (default: train)")
    a = add_command(sub, "adopt", "write a manifest for shards made by MXNet's tools/im2rec.py",
                    ["mxdl-pack adopt shards/im2rec --prefix train=data_train --prefix val=data_val"])
    a.add_argument("shards", help="directory holding the im2rec .rec/.idx files")
    a.add_argument("--prefix", action="append", required=True, metavar="SPLIT=PREFIX",
                   help="a split and its im2rec file prefix; repeat for each split")
    a.add_argument("--classes", help="text file with one class name per line, in label order")
    a.add_argument("--overwrite", action="store_true", help="replace a manifest the folder already has")
    d = add_command(sub, "digits", "export scikit-learn's digits as a class-per-folder tree of PNGs",
                    ["mxdl-pack digits data/digits-images"])
    d.add_argument("output", help="folder to write")


@cli_entry
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "build":
        from .pack import build
        build(args.src, args.output, fmt=args.format, shards=args.shards, split=args.split_sizes,
              resize=args.resize, size=args.size, quality=args.quality,
              encoding=".png" if args.png else ".jpg", pass_through=args.pass_through,
              color=not args.gray, workers=args.workers or None, seed=args.seed,
              layout=args.layout, compression=args.compression, overwrite=args.overwrite,
              merge_splits=args.merge_splits, follow_links=args.follow_links)
    elif args.command == "verify":
        from .verify import verify
        problems = verify(args.shards)
        for line in problems:
            print(f"FAIL {line}")
        print(f"{args.shards}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    elif args.command == "inspect":
        from .inspect import contact_sheet, summary
        print(summary(args.shards))
        if args.grid:
            print(f"contact sheet: {contact_sheet(args.shards, args.grid, args.per_class, args.split)}")
    elif args.command == "adopt":
        from .adopt import adopt
        splits = dict(s.split("=", 1) for s in args.prefix if "=" in s)
        if len(splits) != len(args.prefix):
            raise UserError("--prefix takes SPLIT=PREFIX, e.g. train=mydata_train")
        classes = None
        if args.classes:
            with open(args.classes) as f:
                classes = [line.strip() for line in f if line.strip()]
        adopt(args.shards, splits, classes, overwrite=args.overwrite)
    elif args.command == "digits":
        from .digits import export_digits
        print(f"wrote {export_digits(args.output)} digit images to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
