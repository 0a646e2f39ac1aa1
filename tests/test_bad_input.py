"""Bad input and faults, the way a careless or unlucky user produces them, against every command.

Each case must end with its exact exit status (2 for a user error, unless the case says
otherwise), one line on stderr that names the problem, no traceback, and no temporary file left
behind in the folder it wrote to.
Console scripts run in-process (the same entry points; see conftest.run_in_process); the
launcher runs as itself.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import BIN, REPO, params_of, run_in_process, start_job, wait_for_file
from mxdl.errors import EXIT_USAGE

CONFIG = os.path.join(REPO, "configs", "digits.yaml")
LAUNCH = os.path.join(REPO, "launch", "train.sh")


@pytest.fixture(scope="module")
def world(digits_rec, digits_images, trained, tmp_path_factory):
    """Files the cases point at: good shards, a trained run, and broken things of every kind."""
    root = tmp_path_factory.mktemp("bad")
    w = {"rec": digits_rec, "images": digits_images, "root": str(root), "run": trained, "config": CONFIG}
    (root / "not_utf8.yaml").write_bytes(b"model:\n  name: lenet\n# caf\xe9\n")
    (root / "not_yaml.yaml").write_text("model: [lenet\n")
    (root / "list.yaml").write_text("- model\n- data\n")
    (root / "dup.yaml").write_text("model: {name: lenet}\ndata:\n  dir: x\n  batch_size: 8\n  batch_size: 16\n")
    (root / "a_file").write_text("not a folder")
    (root / "photo.png").write_bytes(open(os.path.join(digits_images, "3", os.listdir(
        os.path.join(digits_images, "3"))[0]), "rb").read())
    garbage = root / "garbage_manifest"
    shutil.copytree(digits_rec, garbage)
    (garbage / "manifest.json").write_text("{ this is not json")
    (root / "no_manifest").mkdir()
    (root / "one" / "cls").mkdir(parents=True)
    shutil.copy(root / "photo.png", root / "one" / "cls" / "photo.png")
    for name, label in (("half", "1.5"), ("negative", "-1"), ("word", "cat")):
        (root / f"{name}.lst").write_text(f"0\t0\tphoto.png\n1\t{label}\tphoto.png\n")
    flat = root / "flat"  # train/ in class folders, val/ flat with val.txt listing one image twice
    for label in ("0", "1"):
        (flat / "train" / label).mkdir(parents=True)
        for f in sorted(os.listdir(os.path.join(digits_images, label)))[:4]:
            shutil.copy(os.path.join(digits_images, label, f), flat / "train" / label / f)
    (flat / "val").mkdir()
    for i in range(3):
        shutil.copy(root / "photo.png", flat / "val" / f"v{i}.png")
    (flat / "val.txt").write_text("v0.png 0\nv1.png 1\nv0.png 1\n")
    renamed = root / "renamed"  # the same records, their classes named otherwise
    shutil.copytree(digits_rec, renamed)
    manifest = json.loads((renamed / "manifest.json").read_text())
    manifest["class_names"] = [f"a{c}" for c in manifest["class_names"]]
    (renamed / "manifest.json").write_text(json.dumps(manifest))
    corrupt = root / "corrupt"  # a record's bytes changed after packing: it may still decode
    shutil.copytree(digits_rec, corrupt)
    with open(corrupt / "train-00000-of-00002.rec", "r+b") as f:
        f.seek(3000)
        f.write(b"\0" * 16)
    no_val = root / "no_val_rec"  # a folder copied without one of its shards
    shutil.copytree(digits_rec, no_val)
    os.remove(no_val / "val-00000-of-00002.rec")
    short = root / "short_classes"  # a manifest that lists 5 of the 10 classes the records use
    shutil.copytree(digits_rec, short)
    raw = json.load(open(short / "manifest.json"))
    raw["classes"], raw["class_names"] = raw["classes"][:5], raw["class_names"][:5]
    for split in raw["splits"].values():
        split["per_class"] = {k: v for k, v in split["per_class"].items() if k in raw["classes"]}
    (short / "manifest.json").write_text(json.dumps(raw))
    (root / "bad.png").write_text("not an image")
    unreadable = root / "unreadable_class"
    shutil.copytree(os.path.join(digits_images, "1"), unreadable / "one")
    (unreadable / "broken").mkdir()
    for i in range(3):
        (unreadable / "broken" / f"{i}.png").write_text("garbage")
    w["unreadable"] = str(unreadable)
    return w


def train(*extra):
    return ("mxdl-train", CONFIG, "data.dir={rec}", "train.log_interval=100000", "--output", "{root}/out",
            *extra)


CASES = [
    # mxdl-train: config values
    ("batch 0", train("data.batch_size=0"), "data.batch_size' must be at least 1"),
    ("batch negative", train("data.batch_size=-3"), "data.batch_size' must be at least 1"),
    ("batch above share", train("data.batch_size=100000"), "batch"),
    ("every_epochs 0", train("checkpoint.every_epochs=0"), "checkpoint.every_epochs' must be at least 1"),
    ("log_interval 0", train("train.log_interval=0"), "train.log_interval' must be at least 1"),
    ("schedule.every 0", train("schedule.every=0"), "schedule.every' must be at least 1"),
    ("threads 0", train("data.threads=0"), "data.threads' must be 'auto' or at least 1"),
    ("lr negative", train("optim.lr=-0.1"), "optim.lr' must be above 0"),
    ("lr nan", train("optim.lr=nan"), "optim.lr' must be a finite number"),
    ("lr inf", train("optim.lr=inf"), "optim.lr' must be a finite number"),
    ("lr huge", train("optim.lr=1e400"), "optim.lr' must be a finite number"),
    ("lr text", train("optim.lr=fast"), "optim.lr' must be float"),
    ("epochs 0", train("train.epochs=0"), "train.epochs' must be at least 1"),
    ("momentum 1.5", train("optim.momentum=1.5"), "optim.momentum' must be in [0, 1)"),
    ("smoothing 1", train("train.label_smoothing=1"), "train.label_smoothing' must be in [0, 1)"),
    ("milestones text", train("schedule.milestones=[a,b]"), "schedule.milestones' must be a list of epoch"),
    ("milestones scalar", train("schedule.milestones=5"), "schedule.milestones' must be list"),
    ("freeze bad regex", train("train.freeze=["), "train.freeze '[' is not a regular expression"),
    ("unknown model", train("model.name=resnet5_v1"), "unknown model 'resnet5_v1'"),
    ("model option value", train("model.options={{dropout: 2}}"), "option dropout must be a number in [0, 1)"),
    ("model option name", train("model.options={{widht: 2}}"), "does not take these options"),
    ("head choice", train("model.head=big"), "model.head' must be one of"),
    ("format choice", train("data.format=tfrecord"), "data.format' must be one of"),
    ("optimizer choice", train("optim.name=adamw"), "optim.name' must be one of"),
    ("unknown key", train("optim.lrr=0.1"), "did you mean 'optim.lr'"),
    ("override without =", train("optim.lr"), "must look like key=value"),
    ("shape of two", train("data.shape=[3,8]"), "data.shape must be C,H,W as 3x64x64, 3,64,64 or [3,64,64]"),
    ("shape 3x64", train("data.shape=3x64"), "data.shape must be C,H,W as 3x64x64, 3,64,64 or [3,64,64]"),
    ("shape words", train("data.shape=axbxc"), "data.shape must be C,H,W as 3x64x64, 3,64,64 or [3,64,64]"),
    ("shape fraction", train("data.shape=[3.5,16,16]"), "data.shape must be C,H,W as"),
    ("shape negative", train("data.shape=[-3,16,16]"), "channels must be 1 or 3"),
    ("shape huge", train("data.shape=[3,100000,100000]"), "sides 1 to 16384 pixels"),
    ("shape channels", train("data.shape=[3,8,8]"), "data.shape has 3 channel(s) but the shards store 1"),
    ("shape zero", train("data.shape=[1,0,8]"), "sides 1 to 16384 pixels"),
    # values each fine in type that ended "finished" with garbage, or in a traceback
    ("seed negative", train("train.seed=-5"), "'train.seed' must be 0 to 2**32-1"),
    ("seed huge", train("train.seed=99999999999"), "'train.seed' must be 0 to 2**32-1"),
    ("reg negative", train("optim.reg=-1"), "'optim.reg' must be 0 or more"),
    ("val_resize negative", train("data.val_resize=-1"), "'data.val_resize' must be 0 or more"),
    ("class weight negative", train("train.class_weights=[1,1,1,1,1,1,1,1,1,-1]"), "weights of 0 or more"),
    ("train split is val split", train("data.train_split=val"), "data.train_split and data.val_split are both 'val'"),
    ("random area inverted", train("data.min_random_area=0.9", "data.max_random_area=0.5"),
     "data.min_random_area=0.9 is above data.max_random_area=0.5"),
    ("accumulate beyond the epoch", train("train.accumulate=1000"), "train.accumulate=1000 is more than the"),
    ("nonfinite limit negative", train("train.nonfinite_limit=-1"), "'train.nonfinite_limit' must be 0 or more"),
    ("shuffle chunks 0", train("data.shuffle_chunks=0"), "data.shuffle_chunks' must be at least 1"),
    ("shuffle chunks a word", train("data.shuffle_chunks=many"), "'data.shuffle_chunks' must be int, got 'many'"),
    ("distill temperature zero", train("train.distill_temperature=0"), "'train.distill_temperature' must be above 0"),
    ("distill weight above 1", train("train.distill_weight=1.5"), "'train.distill_weight' must be in [0, 1]"),
    ("distill params without model", train("train.distill_from={root}/a_file"),
     "is a parameter file: name its network with train.distill_model"),
    ("yaml key twice", ("mxdl-train", "{root}/dup.yaml"), "'batch_size' is given twice in one mapping (lines 4 and 5)"),
    ("train output under a file", train("--output", "{root}/a_file/run"), "cannot create the run directory"),
    ("pack output under a file", ("mxdl-pack", "build", "{images}", "{root}/a_file/out"), "cannot create the output"),
    ("data corrupted, no launcher", ("mxdl-train", CONFIG, "data.dir={root}/corrupt", "--output", "{root}/out2"),
     "train-00000-of-00002.rec: checksum differs from the manifest"),
    ("data dir missing", train("data.dir={root}/nowhere"), "does not exist"),
    ("data dir a file", train("data.dir={root}/a_file"), "does not exist"),
    ("data dir no manifest", train("data.dir={root}/no_manifest"), "has no manifest.json"),
    ("data dir garbage manifest", train("data.dir={root}/garbage_manifest"), "is not valid JSON"),
    ("train split missing", train("data.train_split=nosuch"), "split 'nosuch' is not in"),
    ("labels beyond classes", train("data.dir={root}/short_classes"), "has labels up to 9 but the manifest lists 5"),
    ("format mismatch", train("data.format=hdf5"), "holds rec shards"),
    ("min area 0", train("data.min_random_area=0"), "data.min_random_area' must be in (0, 1]"),
    ("zoom 1.5", train("data.zoom=1.5"), "data.zoom' must be in [0, 1)"),
    ("class weights length", train("train.class_weights=[1,2]"), "class_weights must be 'balanced' or a list"),
    ("synthetic without shape", train("data.synthetic=true"), "data.synthetic needs data.shape"),
    ("shift with rec", train("data.shift=0.1"), "data.shift is for HDF5 input"),
    ("config missing", ("mxdl-train", "{root}/nope.yaml"), "config file not found"),
    ("config not utf8", ("mxdl-train", "{root}/not_utf8.yaml"), "is not UTF-8 text"),
    ("config not yaml", ("mxdl-train", "{root}/not_yaml.yaml"), "is not valid YAML"),
    ("config a list", ("mxdl-train", "{root}/list.yaml"), "must hold a mapping"),
    ("no config", ("mxdl-train",), "give a config file"),
    ("resume without checkpoint", train("--resume"), "--resume: no checkpoint"),
    ("resume and fresh", train("--resume", "--fresh"), "not allowed with argument"),
    ("resume-from text", train("--resume-from", "abc"), "invalid int value"),
    ("resume-from absent", ("mxdl-train", CONFIG, "data.dir={rec}", "--output", "{run}", "--resume-from", "7"),
     "no checkpoint for the end of epoch 7"),
    ("resumed batch change", ("mxdl-train", CONFIG, "data.dir={rec}", "data.batch_size=16", "train.epochs=2",
                              "--output", "{run}", "--resume"), "was trained with data.batch_size=32"),
    ("resumed model change", ("mxdl-train", CONFIG, "data.dir={rec}", "model.name=mlp", "train.epochs=2",
                              "--output", "{run}", "--resume"), "model.name: checkpoint has 'lenet'"),
    ("output is a file", train("--output", "{root}/a_file"), "a_file"),
    # mxdl-pack
    ("pack src missing", ("mxdl-pack", "build", "{root}/nowhere", "{root}/p1"), "input not found"),
    ("pack src a png", ("mxdl-pack", "build", "{root}/photo.png", "{root}/p2"), "photo.png"),
    ("pack out a file", ("mxdl-pack", "build", "{images}", "{root}/a_file"), "is not a folder"),
    ("pack out is src", ("mxdl-pack", "build", "{images}", "{images}"), "overlap"),
    ("pack out inside src", ("mxdl-pack", "build", "{images}", "{images}/shards"), "overlap"),
    ("pack src inside out", ("mxdl-pack", "build", "{images}", "{images}/.."), "overlap"),
    ("split nan", ("mxdl-pack", "build", "{images}", "{root}/p3", "--split-sizes", "train=nan"), "train=nan"),
    ("split inf", ("mxdl-pack", "build", "{images}", "{root}/p4", "--split-sizes", "train=inf,val=0"),
     "must be a fraction or a count"),
    ("split 1.5", ("mxdl-pack", "build", "{images}", "{root}/p5", "--split-sizes", "train=1.5,val=0.5"),
     "neither a fraction"),
    ("split negative", ("mxdl-pack", "build", "{images}", "{root}/p6", "--split-sizes", "train=-1"),
     "must be a fraction or a count"),
    ("split words", ("mxdl-pack", "build", "{images}", "{root}/p7", "--split-sizes", "mostly"), "expected name="),
    ("split sum", ("mxdl-pack", "build", "{images}", "{root}/p8", "--split-sizes", "train=0.8,val=0.1"),
     "add up to 0.9"),
    ("resize negative", ("mxdl-pack", "build", "{images}", "{root}/p9", "--resize", "-5"), "--resize -5"),
    ("size zero", ("mxdl-pack", "build", "{images}", "{root}/p10", "--size", "0x0"), "width and height must be"),
    ("size half zero", ("mxdl-pack", "build", "{images}", "{root}/p11", "--size", "32x0"), "width and height must be"),
    ("size huge", ("mxdl-pack", "build", "{images}", "{root}/p12", "--size", "100000x100000"),
     "width and height must be"),
    ("size words", ("mxdl-pack", "build", "{images}", "{root}/p13", "--size", "big"), "must look like WIDTHxHEIGHT"),
    ("shards 0", ("mxdl-pack", "build", "{images}", "{root}/p14", "--shards", "0"), "must be at least 1"),
    ("quality 101", ("mxdl-pack", "build", "{images}", "{root}/p15", "--quality", "101"), "--quality 101"),
    ("png quality 12", ("mxdl-pack", "build", "{images}", "{root}/p16", "--png", "--quality", "12"),
     "must be 0 to 9 for PNG"),
    ("workers negative", ("mxdl-pack", "build", "{images}", "{root}/p17", "--workers", "-2"), "--workers -2"),
    ("pass-through with gray", ("mxdl-pack", "build", "{images}", "{root}/p18", "--pass-through", "--gray"),
     "cannot be combined"),
    ("unreadable class", ("mxdl-pack", "build", "{unreadable}", "{root}/p19"), "class broken has no readable image"),
    ("other build without overwrite", ("mxdl-pack", "build", "{images}", "{rec}", "--shards", "3"),
     "pass --overwrite"),
    ("verify no manifest", ("mxdl-pack", "verify", "{root}/no_manifest"), "has no manifest.json"),
    ("verify garbage manifest", ("mxdl-pack", "verify", "{root}/garbage_manifest"), "is not valid JSON"),
    ("inspect garbage manifest", ("mxdl-pack", "inspect", "{root}/garbage_manifest"), "is not valid JSON"),
    ("inspect unwritable grid", ("mxdl-pack", "inspect", "{rec}", "--grid", "/proc/sheet.png"), "sheet.png"),
    ("inspect split missing", ("mxdl-pack", "inspect", "{rec}", "--grid", "{root}/g.png", "--split", "nosuch"),
     "split 'nosuch' is not in"),
    ("adopt missing rec", ("mxdl-pack", "adopt", "{root}", "--prefix", "train=nothing"), "nothing.rec not found"),
    ("adopt prefix form", ("mxdl-pack", "adopt", "{root}", "--prefix", "train"), "--prefix takes SPLIT=PREFIX"),
    ("lst label fraction", ("mxdl-pack", "build", "{root}/half.lst", "{root}/p20"), "line 2: label '1.5' is not a class"),
    ("lst label negative", ("mxdl-pack", "build", "{root}/negative.lst", "{root}/p21"), "line 2: label '-1' is not a"),
    ("lst label word", ("mxdl-pack", "build", "{root}/word.lst", "{root}/p22"), "line 2: label 'cat' is not a class"),
    ("split fraction zero", ("mxdl-pack", "build", "{images}", "{root}/p23", "--split-sizes", "train=1.0,val=0.0"),
     "val would get no images; leave it out"),
    ("split too few images", ("mxdl-pack", "build", "{root}/one", "{root}/p24", "--split-sizes",
                              "train=0.8,val=0.1,test=0.1"), "val, test would get no images from the 1 listed"),
    ("flat val listed twice", ("mxdl-pack", "build", "{root}/flat", "{root}/p25"),
     "val.txt lists v0.png twice (lines 1 and 3); keep one"),
    ("adopt over a manifest", ("mxdl-pack", "adopt", "{rec}", "--prefix", "train=train-00000-of-00002"),
     "already has a manifest (from mxdl-pack)"),
    ("pack unknown command", ("mxdl-pack", "pack", "{images}"), "invalid choice"),
    # mxdl-eval, mxdl-predict, mxdl-features, mxdl-augment-preview, mxdl-models
    ("eval model missing", ("mxdl-eval", "{root}/nomodel", "{rec}"), "model not found"),
    ("eval data missing", ("mxdl-eval", "{run}", "{root}/nowhere"), "does not exist"),
    ("eval split missing", ("mxdl-eval", "{run}", "{rec}", "--split", "nosuch"), "split 'nosuch' is not in"),
    ("eval other class names", ("mxdl-eval", "{run}", "{root}/renamed", "--split", "val"),
     "name their classes differently: label 0 is '0' to the model and 'a0' to the shards"),
    ("eval batch 0", ("mxdl-eval", "{run}", "{rec}", "--batch-size", "0"), "must be at least 1"),
    ("eval not a model", ("mxdl-eval", "{rec}", "{rec}"), "holds no checkpoint or exported model"),
    ("predict model missing", ("mxdl-predict", "{root}/nomodel", "{root}/photo.png"), "model not found"),
    ("predict image missing", ("mxdl-predict", "{run}", "{root}/nothing.png"), "image or folder not found"),
    ("predict empty folder", ("mxdl-predict", "{run}", "{root}/no_manifest"), "no images in"),
    ("features missing rec", ("mxdl-features", "extract", "{run}", "{root}/no_val_rec", "--split", "val", "--output",
                              "{root}/f5"), "val-00000-of-00002.rec is missing: the manifest of"),
    ("inspect grid missing rec", ("mxdl-pack", "inspect", "{root}/no_val_rec", "--grid", "{root}/g9.png", "--split",
                                  "val"), "val-00000-of-00002.rec is missing"),
    ("features params not params", ("mxdl-features", "extract", "{rec}", "--gluoncv", "resnet18_v1", "--params",
                                    "{root}/a_file", "--output", "{root}/f6"), "is not a readable MXNet parameter file"),
    ("features gluoncv unknown", ("mxdl-features", "extract", "{rec}", "--gluoncv", "resnet18_v9", "--params",
                                  "{root}/a_file", "--output", "{root}/f7"), "is not a gluoncv model-zoo name"),
    ("predict top-k 0", ("mxdl-predict", "{run}", "{root}/photo.png", "--top-k", "0"), "must be at least 1"),
    ("features split missing", ("mxdl-features", "extract", "{run}", "{rec}", "--output", "{root}/f1", "--split",
                                "nosuch"), "split 'nosuch' is not in"),
    ("features layer missing", ("mxdl-features", "extract", "{run}", "{rec}", "--output", "{root}/f2", "--layer",
                                "nope"), "no layer 'nope'"),
    ("features gluoncv no params", ("mxdl-features", "extract", "{rec}", "--gluoncv", "vgg16", "--output",
                                    "{root}/f3"), "--gluoncv needs --params"),
    ("features no model", ("mxdl-features", "extract", "{rec}", "--output", "{root}/f4"), "give a MODEL"),
    ("logreg no features", ("mxdl-features", "logreg", "{root}/nofeatures"), "nofeatures"),
    ("preview image missing", ("mxdl-augment-preview", "{root}/none.jpg", "--output", "{root}/g1.png"), "none.jpg"),
    ("preview unwritable", ("mxdl-augment-preview", "{root}/photo.png", "--output", "/proc/g.png"), "could not write"),
    ("preview rows 0", ("mxdl-augment-preview", "{root}/photo.png", "--output", "{root}/g2.png", "--rows", "0"),
     "must be at least 1"),
    ("preview huge grid", ("mxdl-augment-preview", "{root}/photo.png", "--output", "{root}/g4.png", "--rows", "1000"),
     "must be at most 64, got 1000"),
    ("inspect huge grid", ("mxdl-pack", "inspect", "{rec}", "--grid", "{root}/g5.png", "--per-class", "100000"),
     "must be at most 200, got 100000"),
    ("preview nothing", ("mxdl-augment-preview", "--output", "{root}/g3.png"), "give an IMAGE"),
    ("export model missing", ("mxdl-export", "{root}/nomodel"), "model not found"),
    ("export output a file", ("mxdl-export", "{run}", "--output", "{root}/a_file"), "is not a folder"),
    ("export format", ("mxdl-export", "{run}", "--format", "tflite"), "invalid choice"),
    ("export into its run", ("mxdl-export", "{run}", "--output", "{run}"), "is a run directory: its own export"),
    ("export not a model", ("mxdl-export", "{rec}"), "holds no checkpoint or exported model"),
    ("init_from not params", train("model.init_from={root}/a_file"), "is not a readable MXNet parameter file"),
    ("init_from nothing", train("model.init_from={root}/no_manifest"), "no parameters found"),
    ("models unknown", ("mxdl-models", "summary", "resnet5"), "unknown model"),
    ("models input", ("mxdl-models", "summary", "vgg16", "--input", "3x224"), "--input must be C,H,W as 3x64x64"),
    ("models classes 0", ("mxdl-models", "summary", "lenet", "--classes", "0"), "must be at least 1"),
    # mxdl-doctor: the hosts are asked before anything starts
    ("doctor unreachable host", ("mxdl-doctor", "{config}", "--hosts", "10.255.255.1:1,localhost:1"),
     "cannot measure on these hosts: host 10.255.255.1 does not answer passwordless ssh"),
    ("doctor np above slots", ("mxdl-doctor", "{config}", "--hosts", "localhost:2", "--np", "3"),
     "give 1 to 2 (the hosts' slots)"),
    ("doctor hostfile missing", ("mxdl-doctor", "{config}", "--hostfile", "{root}/nohosts"),
     "cannot read the hostfile"),
    ("doctor bad config key", ("mxdl-doctor", "{config}", "optim.lrr=1"), "unknown config key 'optim.lrr'"),
]


def _fill(args, world):
    return [a.format(**world) for a in args]


def _snapshot(folder):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(folder)
            for f in files if not f.endswith(".log")}


def _temporaries(folder):
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
            if ".tmp" in f] if os.path.isdir(folder) else []


@pytest.mark.parametrize("name, args, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(world, name, args, message):
    script, *rest = _fill(args, world)
    before = _snapshot(world["run"])
    proc = run_in_process(script, *rest, check=False)
    assert _snapshot(world["run"]) == before  # a refused command changes nothing it was pointed at
    err = proc.stderr.strip()
    assert proc.returncode == EXIT_USAGE, (proc.returncode, proc.stdout[-2000:], err)
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, err
    assert message in err, err
    assert _temporaries(world["root"]) == []


LAUNCHER_CASES = [
    ("no config", (), "no CONFIG given"),
    ("np text", ("{config}", "--np", "abc"), "--np must be a positive number"),
    ("stop-grace text", ("{config}", "--stop-grace", "abc"), "--stop-grace must be a whole number"),
    ("resume-from text", ("{config}", "--resume-from", "abc"), "--resume-from"),
    ("hosts garbage", ("{config}", "--hosts", "a:b:c"), "--hosts"),
    ("resume and fresh", ("{config}", "--resume", "--fresh"), "--resume"),
    ("unknown config", ("digitz",), "config file not found: digitz"),
    ("missing value", ("{config}", "--np"), "--np needs a"),
    ("hosts with a space", ("{config}", "--hosts", "h 1:2"), "'h 1' is not a host name"),
    ("hosts slots text", ("{config}", "--hosts", "localhost:2,127.0.0.1:x"), "has slots 'x'"),
    ("hosts twice", ("{config}", "--hosts", "n1:2,n1:2"), "n1 listed twice"),
    ("min-np above np", ("{config}", "--np", "2", "--min-np", "5"), "--min-np 5 is more than the 2 worker(s)"),
    ("start-timeout text", ("{config}", "--start-timeout", "soon"), "--start-timeout must be a positive"),
    ("srun outside slurm", ("{config}", "--srun"), "--srun starts workers inside a Slurm allocation"),
    ("hang-timeout negative", ("{config}", "--hang-timeout", "-5"), "--hang-timeout must be a positive whole number"),
    ("hang-timeout text", ("{config}", "--hang-timeout", "soon"), "--hang-timeout must be a positive whole number"),
    ("max-restarts negative", ("{config}", "--max-restarts", "-1"), "--max-restarts must be a whole number"),
    ("max-restarts text", ("{config}", "--max-restarts", "many"), "--max-restarts must be a whole number"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, args, message", LAUNCHER_CASES, ids=[c[0] for c in LAUNCHER_CASES])
def test_launcher_bad_input_is_one_clear_line(world, name, args, message):
    args = [a.format(config=CONFIG) for a in args]
    proc = subprocess.run([LAUNCH, *args, "--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"]))
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.stdout[-2000:], err)
    assert "Traceback" not in proc.stderr and message in err.splitlines()[-1], err


@pytest.mark.slow
def test_a_nan_loss_fails_and_keeps_the_last_good_checkpoint(world, tmp_path):
    from mxdl.runs.checkpoint import load_meta
    out = tmp_path / "run"
    run_in_process("mxdl-train", CONFIG, f"data.dir={world['rec']}", "train.epochs=1", "train.log_interval=100000",
                   "--output", out)
    good = open(out / "checkpoints" / "latest").read()
    diverge = (CONFIG, f"data.dir={world['rec']}", "train.epochs=2", "optim.lr=1e30", "train.log_interval=100000",
               "--output", out)
    # the guard (on by default): non-finite steps are skipped, and read at the epoch's end here (no log
    # line comes sooner); five or more in a row save the weights, which they left as they were, and stop
    proc = run_in_process("mxdl-train", *diverge, "train.nonfinite_limit=5", check=False)
    assert proc.returncode == 1 and "5 steps in a row had non-finite gradients" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    saved = out / "checkpoints" / open(out / "checkpoints" / "latest").read().strip()
    meta = load_meta(str(saved))
    # the epoch's first step is finite (and throws the weights out); every later one is skipped
    assert meta["reason"] == "nonfinite" and meta["skipped_steps"] == meta["steps_per_epoch"] - 1 >= 5
    assert all(np.isfinite(v).all() for v in params_of(saved).values())  # the skipped steps changed nothing
    assert open(out / "outcome").read().strip() == "failed" and not (out / "model-0002.params").exists()
    # resumed at that checkpoint, the epoch has no step left: its figures are the ones the checkpoint
    # carried, not those of no image (they read 0 loss, 0 accuracy and 0 img/s)
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    run_in_process("mxdl-train", *diverge[:3], "optim.lr=0.01", "train.log_interval=100000", "--output", resumed)
    epoch2 = json.load(open(resumed / "history.json"))["epochs"][1]
    assert epoch2["train_acc"] > 0 and epoch2["images_per_sec"] > 0 and epoch2["seconds"] > 0.01, epoch2
    # without the guard, the epoch's loss gives it away: nothing is saved from that epoch
    (out / "checkpoints" / "latest").write_text(good)
    proc = run_in_process("mxdl-train", *diverge, "train.nonfinite_limit=0", check=False)
    assert proc.returncode == 1 and "training diverged in epoch 2" in proc.stderr, proc.stderr
    assert open(out / "checkpoints" / "latest").read() == good
    assert not (out / "model-0002.params").exists()


@pytest.mark.slow
def test_overwrite_removes_only_the_tools_own_files(world, tmp_path):
    out = tmp_path / "shards"
    run_in_process("mxdl-pack", "build", world["images"], out, "--shards", "1", "--png", "--gray")
    (out / "notes.txt").write_text("mine")
    (out / "keep").mkdir()
    (out / "keep" / "photo.jpg").write_bytes(b"mine too")
    run_in_process("mxdl-pack", "build", world["images"], out, "--shards", "2", "--png", "--gray", "--overwrite")
    assert (out / "notes.txt").read_text() == "mine" and (out / "keep" / "photo.jpg").read_bytes() == b"mine too"
    assert sorted(p for p in os.listdir(out) if p.endswith(".rec")) == ["train-00000-of-00002.rec",
                                                                        "train-00001-of-00002.rec"]


@pytest.mark.slow
def test_a_stale_stop_file_is_reported_and_removed(world, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "STOP").write_text("")
    proc = run_in_process("mxdl-train", CONFIG, f"data.dir={world['rec']}", "train.epochs=1",
                          "train.log_interval=100000", "--output", out)
    assert "removed a stale" in proc.stdout and not (out / "STOP").exists()
    assert "finished" in proc.stdout


@pytest.mark.slow
def test_rerunning_a_finished_run_re_exports(world, tmp_path):
    out = tmp_path / "run"
    args = (CONFIG, f"data.dir={world['rec']}", "train.epochs=1", "train.log_interval=100000", "--output", out)
    run_in_process("mxdl-train", *args)
    os.remove(out / "model-0001.params")  # as if the disk had filled during the export
    proc = run_in_process("mxdl-train", *args)
    assert "the run is finished" in proc.stdout and (out / "model-0001.params").stat().st_size > 0
    assert [p for p in os.listdir(out) if p.startswith(".export-")] == []


@pytest.mark.slow
@pytest.mark.long
def test_ctrl_c_on_the_packer_exits_130_quickly_every_time(world, tmp_path):
    interrupted = 0
    for attempt in range(10):
        out = tmp_path / f"p{attempt}"
        proc = start_job([os.path.join(BIN, "mxdl-pack"), "build", world["images"], out, "--png",
                          "--resize", "128", "--workers", "2", "--shards", "4"], stderr=subprocess.PIPE)
        wait_for_file(str(out / ".pack-plan.json"), proc, 60)
        time.sleep(0.02 * (attempt % 5))  # land at different points of the build (a delay, not a wait)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # a hang fails here
        if proc.returncode == 0 or (proc.returncode == -signal.SIGINT and (out / "manifest.json").exists()):
            continue  # finished before the signal landed (or as the interpreter was exiting)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        interrupted += 1
    assert interrupted >= 5  # most signals landed mid-build


def _children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


@pytest.mark.slow
def test_a_packing_worker_killed_ends_the_build_in_one_line_and_the_rerun_finishes(world, tmp_path):
    """As the OOM killer would: multiprocessing.Pool waited forever for the dead worker's images."""
    out = tmp_path / "p"
    cmd = [os.path.join(BIN, "mxdl-pack"), "build", world["images"], str(out), "--workers", "2", "--resize", "512", "--png",
           "--shards", "6"]
    proc = start_job(cmd, stderr=subprocess.PIPE)
    wait_for_file(str(out / ".pack-plan.json"), proc, 60)
    deadline = time.time() + 30   # the pool is encoding once a shard's temporary file is there
    while not any(n.endswith(".tmp") for n in os.listdir(out)) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(_children(proc.pid)[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)   # a hang fails here
    if proc.returncode == 0:
        pytest.skip("the build finished before the worker was killed")
    assert proc.returncode == 1 and "a packing worker died" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert (out / "manifest.json").exists()


def _png_claiming(width, height):
    """A small, well-formed PNG whose header claims width x height grey pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_odd_files_are_skipped_or_read_as_packed(world, tmp_path):
    """Grey and RGBA PNGs stored as they are, a 40000x40000 image and a newline in a file name."""
    import cv2
    import numpy as np
    from mxdl.data.manifest import Manifest
    from mxdl.data.shards import iter_shard
    from recordio_tools.verify import verify
    src = tmp_path / "src"
    for name in ("grey", "rgba"):
        (src / name).mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(4):
        cv2.imwrite(str(src / "grey" / f"{i}.png"), rng.randint(0, 255, (16, 16), np.uint8))
        cv2.imwrite(str(src / "rgba" / f"{i}.png"), rng.randint(0, 255, (16, 16, 4), np.uint8))
    (src / "grey" / "huge.png").write_bytes(_png_claiming(40000, 40000))
    (src / "rgba" / "two\nlines.png").write_bytes((src / "rgba" / "0.png").read_bytes())
    out = tmp_path / "shards"
    run_in_process("mxdl-pack", "build", src, out, "--pass-through", "--workers", "2")
    manifest = Manifest.load(str(out))
    reasons = {os.path.basename(p): r for p, r in manifest.skipped}
    assert reasons["huge.png"].startswith("not decodable") and "tab or newline" in reasons["two\nlines.png"]
    assert manifest.total_records == 8 and verify(str(out)) == []
    shapes = {image.shape for _, path, idx in manifest.shard_paths("train")
              for _, _, image in iter_shard(manifest, path, idx)}
    assert shapes == {(16, 16, 3)}


def test_folder_links_are_not_followed_unless_asked(world, tmp_path):
    """A link to '.' once turned 60 images into 1,260 records; a link to '..' labelled another class's
    images as this one. Followed on request, only links that leave the tree are walked."""
    from mxdl.data.manifest import Manifest
    src, outside = tmp_path / "src", tmp_path / "outside"
    for name in ("cat", "dog"):
        shutil.copytree(os.path.join(world["images"], "1" if name == "cat" else "2"), src / name)
    shutil.copytree(os.path.join(world["images"], "3"), outside)
    os.symlink(".", src / "cat" / "loop")
    os.symlink("..", src / "cat" / "up")
    counts = {name: len(os.listdir(src / name)) - (2 if name == "cat" else 0) for name in ("cat", "dog")}
    os.symlink(outside, src / "dog" / "more")
    os.symlink(outside, src / "cat" / "same")  # the same real files under two classes
    os.symlink(src / "cat" / sorted(os.listdir(src / "cat"))[0], src / "dog" / "linked.png")
    run_in_process("mxdl-pack", "build", src, tmp_path / "a", "--png")
    plain = Manifest.load(str(tmp_path / "a"))
    assert plain.total_records == counts["cat"] + counts["dog"]
    assert sum("not followed" in reason for _, reason in plain.skipped) == 4
    assert sum("listed once" in reason for _, reason in plain.skipped) == 1  # dog/linked.png
    run_in_process("mxdl-pack", "build", src, tmp_path / "b", "--png", "--follow-links")
    followed = Manifest.load(str(tmp_path / "b"))
    assert followed.splits["train"].per_class == {"cat": counts["cat"] + len(os.listdir(outside)),
                                                  "dog": counts["dog"]}
    assert sum("back to this folder" in reason for _, reason in followed.skipped) == 2  # loop and up
    assert sum("listed once" in reason for _, reason in followed.skipped) == 1 + len(os.listdir(outside))


def test_an_image_edited_in_place_is_packed_again(world, tmp_path):
    import cv2
    import numpy as np
    from mxdl.data.manifest import Manifest
    from recordio_tools.verify import verify
    src = tmp_path / "src"
    for name in ("1", "2"):
        shutil.copytree(os.path.join(world["images"], name), src / name)
    out = tmp_path / "shards"
    build = ("mxdl-pack", "build", src, out, "--png", "--gray", "--shards", "2")
    run_in_process(*build)
    before = {p: open(out / p, "rb").read() for p in os.listdir(out) if p.endswith(".rec")}
    fingerprints = [s.inputs for s in Manifest.load(str(out)).splits["train"].shards]
    victim = src / "1" / sorted(os.listdir(src / "1"))[0]
    cv2.imwrite(str(victim), np.full((8, 8), 255, np.uint8))  # a new picture under the old name
    again = run_in_process(*build)
    assert again.stdout.count("writing it again") == 1 and f"e.g. {victim};" in again.stdout, again.stdout
    after = {p: open(out / p, "rb").read() for p in before}
    assert sum(before[p] != after[p] for p in before) == 1 and verify(str(out)) == []
    refreshed = [s.inputs for s in Manifest.load(str(out)).splits["train"].shards]
    assert all(fingerprints) and sum(a != b for a, b in zip(fingerprints, refreshed)) == 1


def test_a_shard_file_deleted_or_cut_short_since_the_build_is_written_again(world, tmp_path):
    """Not kept in a manifest that training would then find it missing from."""
    from recordio_tools.verify import verify
    out = tmp_path / "shards"
    build = ("mxdl-pack", "build", world["images"], out, "--png", "--gray", "--shards", "2")
    run_in_process(*build)
    first, second = sorted(p for p in os.listdir(out) if p.endswith(".rec"))[:2]
    os.remove(out / first)
    os.truncate(out / second, 100)
    again = run_in_process(*build).stdout
    assert f"({first}: missing)" in again and f"({second}: 100 bytes, manifest says" in again, again
    assert again.count("writing it again") == 2 and verify(str(out)) == []
    assert "writing it again" not in run_in_process(*build).stdout


def test_a_second_build_into_the_same_folder_is_refused(world, tmp_path):
    import fcntl
    out = tmp_path / "shards"
    out.mkdir()
    with open(out / ".pack.lock", "a") as held:  # as a build running in another process holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = run_in_process("mxdl-pack", "build", world["images"], out, check=False)
    assert proc.returncode == 2 and "another mxdl-pack build is writing to" in proc.stderr
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda ck: open(ck / "model.params", "r+b").truncate(100), "model.params does not load"),
    (lambda ck: (ck / "meta.json").write_text("{ not json"), "is damaged (not JSON)"),
    (lambda ck: (ck / "meta.json").write_text("{}"), "is damaged (no 'identity')"),
    (lambda ck: open(ck / "optimizer.params", "r+b").truncate(10), "optimizer.params does not load"),
    (lambda ck: (ck.parent / "index.json").write_text("{ broken"), "index.json is damaged (not JSON)"),
])
def test_a_damaged_checkpoint_is_one_line_and_names_the_way_out(world, tmp_path, damage, message):
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    latest = run / "checkpoints" / open(run / "checkpoints" / "latest").read().strip()
    damage(latest)
    for script, args in (("mxdl-train", (CONFIG, f"data.dir={world['rec']}", "train.epochs=6", "--output", run,
                                         "--resume")),
                         ("mxdl-eval", (latest, world["rec"], "--split", "val", "--output", tmp_path / "ev"))):
        if script == "mxdl-eval" and ("optimizer" in message or "index.json" in message):
            continue  # evaluation reads neither the optimizer's state nor the trainer's index
        proc = run_in_process(script, *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr and "--resume-from EPOCH" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _damage_records(shards, shard_name, records, header):
    """Overwrite records' RecordIO headers, or the start of their images, with junk."""
    offsets = sorted(int(line.split("\t")[1]) for line in open(shards / (shard_name + ".idx")))
    with open(shards / (shard_name + ".rec"), "r+b") as f:
        for record in records:
            f.seek(offsets[record] + (0 if header else 8 + 24))  # 8 framing bytes, then MXNet's 24-byte IRHeader
            f.write(b"A" * 40)


@pytest.mark.parametrize("header, records, why", [
    (True, [5], "no RecordIO header"),
    (False, [5], "the image does not decode"),
    # every record of a range's first batch: MXNet decodes that batch while the range opens
    (False, range(40), "the image does not decode")])
def test_a_damaged_record_is_named_in_training_and_evaluation(world, tmp_path, header, records, why):
    """ImageRecordIter aborted the process (exit 134, no message) on a damaged header, and raised
    a C++ traceback on an undecodable image."""
    shards = tmp_path / "shards"
    shutil.copytree(world["rec"], shards)
    for split in ("train", "val"):
        name = sorted(p for p in os.listdir(shards) if p.startswith(split) and p.endswith(".rec"))[0][:-4]
        _damage_records(shards, name, records, header)
    expected = f"record {records[0]} (key {records[0]}"
    runs = (("mxdl-train", CONFIG, f"data.dir={shards}", "train.epochs=1", "--output", tmp_path / "run",
             "--no-verify-data"),   # past the start's checksums: the reader must name the record itself
            ("mxdl-eval", world["run"], shards, "--split", "val", "--output", tmp_path / "ev"))
    for script, *args in runs:
        proc = run_in_process(script, *args, check=False)
        err = proc.stderr.strip()
        assert proc.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert expected in err and f"mxdl-pack verify {shards}" in err, err
        assert script == "mxdl-eval" or why in err, err  # evaluation reads through MXNet's own reader


@pytest.mark.slow
def test_a_damaged_record_under_the_launcher_is_the_finders_line_and_is_not_restarted(world, tmp_path):
    """The other worker printed a 35-line "Horovod has been shut down" traceback, and the damaged
    record (read again by any restart) was restarted with exit 1."""
    shards = tmp_path / "shards"
    shutil.copytree(world["rec"], shards)
    for name in sorted(p[:-4] for p in os.listdir(shards) if p.startswith("train") and p.endswith(".rec")):
        _damage_records(shards, name, [5], header=True)  # refused before ImageRecordIter runs
        _damage_records(shards, name, range(40, 80), header=False)  # fails inside it, even as a range opens
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([LAUNCH, CONFIG, f"data.dir={shards}", "--np", "2", "--output", str(tmp_path / "run"),
                           "--no-verify-data", "--max-restarts", "2", "train.epochs=2"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out and "Horovod has been shut down" not in out, out[-3000:]
    assert re.search(r"record \d+ \(key \d+, byte \d+\) is damaged", out), out
    assert "a worker refused its input (the error above); not restarted" in out, out
    assert "restart 1 of 2" not in out and "saving a checkpoint" not in out, out


@pytest.mark.slow
def test_ctrl_c_before_the_job_starts_ends_the_launcher_with_one_line(world, tmp_path):
    """The launcher's own steps (config lookup, preflight) ran in the foreground: ctrl+c there printed
    Python tracebacks and exited 2."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    early = 0
    for delay in (0.1, 0.3, 0.6, 0.9, 1.2):
        out = tmp_path / f"run{delay}"
        proc = start_job([LAUNCH, CONFIG, f"data.dir={world['rec']}", "--np", "1", "--output", out],
                         stderr=subprocess.PIPE, env=env)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 130:  # the job had started: the coordinated stop, tested in test_launch
            assert proc.returncode in (0, 75), err
            continue
        assert err.strip() == "launch/train.sh: interrupted before any worker started; nothing was run", err
        assert not (out / "checkpoints").exists()
        early += 1
    assert early >= 3


def _one_disk_full_line(proc, where):
    err = proc.stderr.strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: the disk is full writing ") and str(where) in err, err


def _leftovers(folder):
    return [os.path.join(d, x) for d, dirs, files in os.walk(folder) for x in dirs + files
            if ".tmp" in x or x.startswith(".export-")]


@pytest.mark.slow
@pytest.mark.parametrize("options", [("--png", "--shards", "2"), ("--format", "hdf5", "--size", "16x16")])
def test_a_full_disk_while_packing_leaves_no_partial_pack_and_the_rerun_finishes(world, small_disk, options):
    """HDF5 crashed the process (a segfault inside HDF5) when a write found the disk full."""
    from recordio_tools.verify import verify
    disk = small_disk(200)  # the digits need about 450 KiB as PNG records, 460 KiB as 16x16 HDF5
    out = disk / "shards"
    build = ("mxdl-pack", "build", world["images"], out, "--gray", *options)
    _one_disk_full_line(run_in_process(*build, check=False), out)
    assert not (out / "manifest.json").exists() and _leftovers(disk) == []
    subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
    run_in_process(*build)
    assert verify(str(out)) == []


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_or_the_export_keeps_the_last_good_state(world, small_disk, tmp_path):
    from conftest import fill_disk
    disk = small_disk(4096)
    run = disk / "run"
    args = (CONFIG, f"data.dir={world['rec']}", "train.log_interval=100000", "--output", run)
    run_in_process("mxdl-train", *args, "train.epochs=1")
    ckpt = run / "checkpoints" / "epoch-0001-step-000000"
    ckpt_bytes = sum(f.stat().st_size for f in ckpt.iterdir())
    export_bytes = (run / "model-0001.params").stat().st_size
    for leave, stage in ((ckpt_bytes // 2, "checkpoint"), (ckpt_bytes + export_bytes // 2, "export")):
        fill_disk(disk, leave)
        proc = run_in_process("mxdl-train", *args, "train.epochs=2", "--resume", check=False)
        _one_disk_full_line(proc, run / "checkpoints" if stage == "checkpoint" else run)
        assert _leftovers(disk) == [] and not (run / "model-0002.params").exists(), stage
        os.remove(disk / "filler")
    assert open(run / "checkpoints" / "latest").read().strip() == "epoch-0002-step-000000"  # saved before export
    again = run_in_process("mxdl-train", *args, "train.epochs=2", "--resume")
    # the same arrays; their names (MXNet's per-process block counters) may differ by a digit
    assert "the run is finished" in again.stdout and abs((run / "model-0002.params").stat().st_size - export_bytes) < 64
    ev = run_in_process("mxdl-eval", run, world["rec"], "--split", "val", "--output", tmp_path / "ev")
    assert "rank-1" in ev.stdout.lower()


def test_a_name_near_the_length_limit_is_written_whole(tmp_path):
    """A valid 254-byte file name: its temporary ".NAME.tmp-PID" form was too long to create."""
    from mxdl.fileio import atomic_write_text
    target = tmp_path / ("y" * 250 + ".png")
    atomic_write_text(str(target), "x")
    assert target.read_text() == "x" and os.listdir(tmp_path) == [target.name]


@pytest.mark.parametrize("args, message", [
    (("--nodes", "5"), "--nodes 5 is out of range (2 to 4)"),
    (("--nodes", "two"), "--nodes takes a number from 2 to 4, got 'two'"),
    (("--rate", "100kbit"), "--rate 100kbit is out of range (1mbit to 10gbit)"),
    (("--rate", "fast"), "--rate takes a rate such as 50mbit, 200mbit or 1gbit, got 'fast'"),
])
def test_the_emulated_clusters_size_and_rate_are_checked_first(tmp_path, args, message):
    """Refused before anything is built (no root needed to be told)."""
    proc = subprocess.run([os.path.join(REPO, "scripts", "netns_cluster.sh"), "up", str(tmp_path / "c"), *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.strip() == f"netns_cluster: {message}", proc.stderr
    assert not (tmp_path / "c").exists()
