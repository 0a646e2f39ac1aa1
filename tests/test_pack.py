"""recordio_tools: listing, splits, RecordIO/HDF5 shards, stats, manifest, verify, bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter

import cv2
import h5py
import numpy as np
import pytest

from conftest import run_cli, run_in_process, start_job, wait_for_file
from mxdl.errors import UserError
from mxdl.data.manifest import Manifest
from recordio_tools import pack
from recordio_tools.listing import list_images
from recordio_tools.split import parse_split, stratified_split
from recordio_tools.verify import verify

QUIET = {"log": lambda *_: None}

MAGIC_WORD = (0xCED7230A).to_bytes(4, "little")


def read_source(path, gray=True):
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)


def test_round_trip_lossless_with_mxnet_readers(digits_images, digits_rec):
    import mxnet as mx
    manifest = Manifest.load(digits_rec)
    classes = manifest.classes
    seen = 0
    for split in ("train", "val"):
        for shard in manifest.splits[split].shards:
            base = os.path.join(digits_rec, shard.name)
            reader = mx.recordio.MXIndexedRecordIO(base + ".idx", base + ".rec", "r")
            lst = [line.rstrip("\n").split("\t") for line in open(base + ".lst")]
            assert len(reader.keys) == len(lst) == shard.records
            for key, (index, label, path) in zip(reader.keys, lst):
                header, image = mx.recordio.unpack_img(reader.read_idx(key), iscolor=0)
                assert int(index) == key and float(label) == header.label
                assert classes[int(header.label)] == os.path.basename(os.path.dirname(path))
                np.testing.assert_array_equal(image, read_source(path))
                seen += 1
    assert seen == 1797


def test_image_record_iter_parts_cover_every_record(digits_rec):
    import mxnet as mx
    base = os.path.join(digits_rec, "val-00000-of-00002")
    expected = sum(1 for _ in open(base + ".lst"))
    for parts in (1, 2, 3):
        total = 0
        for part in range(parts):
            it = mx.io.ImageRecordIter(path_imgrec=base + ".rec", path_imgidx=base + ".idx", data_shape=(1, 8, 8),
                                       batch_size=16, num_parts=parts, part_index=part, verbose=False)
            total += sum(16 - b.pad for b in it)
        assert total == expected


def test_split_is_stratified_and_reproducible(digits_images):
    items = list_images(digits_images).splits["all"]
    parts = parse_split("train=0.7,val=0.15,test=0.15")
    a = stratified_split(items, parts, seed=1)
    b = stratified_split(items, parts, seed=1)
    c = stratified_split(items, parts, seed=2)
    assert [i.path for i in a["val"]] == [i.path for i in b["val"]]
    assert [i.path for i in a["val"]] != [i.path for i in c["val"]]
    assert sum(len(v) for v in a.values()) == len(items)
    assert not set(i.path for i in a["train"]) & set(i.path for i in a["test"])
    total = Counter(i.label for i in items)
    for name, frac in parts.items():
        counts = Counter(i.label for i in a[name])
        for label, n in total.items():
            assert abs(counts[label] - frac * n) <= 1, (name, label)


def test_split_by_counts():
    from recordio_tools.listing import Item
    items = [Item(f"{c}/{i}", c) for c in range(4) for i in range(25)]
    out = stratified_split(items, parse_split("train=0,val=20,test=8"), seed=0)
    assert len(out["val"]) == 20 and len(out["test"]) == 8 and len(out["train"]) == 72
    assert set(Counter(i.label for i in out["val"]).values()) == {5}


def test_bad_split_specs():
    with pytest.raises(UserError, match="add up to 0.9"):
        parse_split("train=0.8,val=0.1")
    with pytest.raises(UserError, match="not a number"):
        parse_split("train=most")


def test_bad_files_are_skipped_and_reported(photos_tree, tmp_path):
    flower = os.path.join(photos_tree, "flower")
    open(os.path.join(flower, "empty.jpg"), "wb").close()
    good = open(os.path.join(flower, "0.jpg"), "rb").read()
    open(os.path.join(flower, "truncated.jpg"), "wb").write(good[: len(good) // 2])
    open(os.path.join(flower, "notes.jpg"), "w").write("this is not an image")
    open(os.path.join(flower, "readme.txt"), "w").write("wrong extension")
    out = str(tmp_path / "out")
    manifest = pack.build(photos_tree, out, workers=2, **QUIET)
    reasons = {os.path.basename(p): r for p, r in manifest.skipped}
    assert reasons == {"empty.jpg": "empty file (0 bytes)",
                       "truncated.jpg": "truncated JPEG (no end-of-image marker)",
                       "notes.jpg": "not a decodable image",
                       "readme.txt": "not an image file extension"}
    assert manifest.total_records == 12
    assert verify(out) == []


def test_empty_class_input_and_label_mismatch_are_errors(photos_tree, tmp_path):
    os.makedirs(os.path.join(photos_tree, "empty_class"))
    with pytest.raises(UserError, match="class folder 'empty_class' .* holds no images"):
        pack.build(photos_tree, str(tmp_path / "a"), **QUIET)
    os.rmdir(os.path.join(photos_tree, "empty_class"))
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(UserError, match="is empty"):
        pack.build(str(empty), str(tmp_path / "b"), **QUIET)
    csv_path = os.path.join(photos_tree, "labels.csv")
    with open(csv_path, "w") as f:
        f.write("path,label\nchina/0.jpg,china\nflower/0.jpg,china\n")
    with pytest.raises(UserError, match="says flower/0.jpg is 'china' but it sits in folder 'flower'"):
        pack.build(csv_path, str(tmp_path / "c"), **QUIET)


def test_layouts_csv_filename_lst_tiny_imagenet(photos_tree, tmp_path):
    csv_path = os.path.join(photos_tree, "labels.tsv")
    with open(csv_path, "w") as f:
        for cls in ("china", "flower"):
            for i in range(6):
                f.write(f"{cls}/{i}.jpg\t{cls}\n")
    assert len(list_images(csv_path).splits["all"]) == 12
    flat = tmp_path / "flat"
    flat.mkdir()
    for cls in ("cat", "dog"):
        for i in range(3):
            shutil.copy(os.path.join(photos_tree, "china", f"{i}.jpg"), flat / f"{cls}.{i}.jpg")
    listing = list_images(str(flat))
    assert listing.classes == ["cat", "dog"] and len(listing.splits["all"]) == 6
    lst = tmp_path / "x.lst"
    lst.write_text("".join(f"{i}\t{i % 2}.000000\t{p}\n" for i, p in
                           enumerate(sorted(os.listdir(flat)))))
    assert [it.label for it in list_images(str(lst), "lst").splits["all"]] == [0, 1, 0, 1, 0, 1]
    tiny = tmp_path / "tiny"
    for wnid in ("n01", "n02"):
        (tiny / "train" / wnid / "images").mkdir(parents=True)
        for i in range(2):
            shutil.copy(os.path.join(photos_tree, "china", f"{i}.jpg"), tiny / "train" / wnid / "images" / f"{wnid}_{i}.JPEG")
    (tiny / "val" / "images").mkdir(parents=True)
    shutil.copy(os.path.join(photos_tree, "flower", "0.jpg"), tiny / "val" / "images" / "val_0.JPEG")
    (tiny / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t10\t10\n")
    (tiny / "wnids.txt").write_text("n02\nn01\n")
    (tiny / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\ttabby cat\n")
    listing = list_images(str(tiny))
    assert listing.classes == ["n01", "n02"] and listing.readable_names == {"n01": "goldfish", "n02": "tabby cat"}
    assert len(listing.splits["train"]) == 4 and listing.splits["val"][0].label == 1


def _tree_reached_many_ways(root):
    """Files and the other ways a listing reaches them: a hard link, a link to a file, a link to a
    folder, a missing name, a folder, a relative name; every path as a string."""
    (root / "a").mkdir()
    (root / "b").mkdir()
    files = [root / "a" / f"{i}.png" for i in range(4)]
    for f in files:
        f.write_bytes(b"x")
    os.link(files[0], root / "b" / "hard.png")
    os.symlink(files[1], root / "b" / "soft.png")
    os.symlink(root / "a", root / "linked")
    others = (root / "b" / "hard.png", root / "b" / "soft.png", root / "b" / "missing.png", root / "linked" / "2.png",
              root / "b", "not-here.png")
    return [str(p) for p in (*files, *others)]


def test_a_files_identity_read_from_its_folder_is_what_stat_says(tmp_path):
    from recordio_tools.listing import _FileIdentity, _stat_identity
    paths = _tree_reached_many_ways(tmp_path)
    identity = _FileIdentity()
    twice = paths + paths  # the second time round, each folder is one met again
    assert [identity(p) for p in twice] == [_stat_identity(p) for p in twice]
    assert identity(paths[0]) == identity(paths[4]) == identity(paths[-4].replace("missing", "hard"))


def test_a_folder_whose_entries_disagree_with_stat_is_stated_file_by_file(tmp_path, monkeypatch):
    """As overlayfs over two filesystems can number a file apart from its folder's entry."""
    from recordio_tools import listing
    paths = _tree_reached_many_ways(tmp_path)
    real = listing._stat_identity
    monkeypatch.setattr(listing, "_stat_identity", lambda p: real(p) and (real(p)[0], real(p)[1] + 7))
    identity = listing._FileIdentity()
    assert [identity(p) for p in paths] == [listing._stat_identity(p) for p in paths]


def test_a_file_reached_through_a_hard_link_or_a_repeated_row_is_listed_once(photos_tree, tmp_path):
    os.link(os.path.join(photos_tree, "china", "0.jpg"), os.path.join(photos_tree, "flower", "hard.jpg"))
    listing = list_images(photos_tree)
    assert len(listing.splits["all"]) == 12
    assert listing.skipped == [(os.path.join(photos_tree, "flower", "hard.jpg"),
                                f"the same file as {os.path.join(photos_tree, 'china', '0.jpg')}, listed once")]
    rows = tmp_path / "labels.csv"
    rows.write_text("".join(f"{os.path.join(photos_tree, c, f'{i}.jpg')},{c}\n" for c in ("china", "flower")
                            for i in (0, 1, 0)))
    listing = list_images(str(rows))
    assert len(listing.splits["all"]) == 4 and len(listing.skipped) == 2


def test_hdf5_layout_readable_with_plain_h5py(photos_tree, tmp_path):
    out = str(tmp_path / "h5")
    pack.build(photos_tree, out, fmt="hdf5", size="32x24", split="train=0.5,val=0.5", compression="gzip",
               workers=1, **QUIET)
    with h5py.File(os.path.join(out, "train-00000-of-00001.h5"), "r") as f:
        assert f["images"].shape == (6, 24, 32, 3) and f["images"].dtype == np.uint8
        assert sorted(f["labels"][:].tolist()) == [0, 0, 0, 1, 1, 1]
        assert [n.decode() if isinstance(n, bytes) else n for n in f["label_names"][:]] == ["china", "flower"]
        assert f["images"].compression == "gzip"
        assert f.attrs["channel_order"] == "RGB"
    assert verify(out) == []


def test_stats_are_the_training_split_mean(digits_rec, digits_images):
    stats = json.load(open(os.path.join(digits_rec, "stats.json")))
    manifest = Manifest.load(digits_rec)
    paths = [line.split("\t")[2].strip() for s in manifest.splits["train"].shards
             for line in open(os.path.join(digits_rec, s.name + ".lst"))]
    pixels = np.concatenate([read_source(p).ravel() for p in paths]).astype(np.float64)
    assert stats["mean"][0] == pytest.approx(pixels.mean(), rel=1e-9)
    assert stats["std"][0] == pytest.approx(pixels.std(), rel=1e-6)


def test_verify_catches_a_corrupted_byte(digits_images, tmp_path):
    out = str(tmp_path / "shards")
    pack.build(digits_images, out, shards=2, encoding=".png", color=False, workers=1, **QUIET)
    rec = os.path.join(out, "train-00001-of-00002.rec")
    data = bytearray(open(rec, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(rec, "wb").write(bytes(data))
    proc = run_in_process("mxdl-pack", "verify", out, check=False)
    assert proc.returncode == 1
    assert "train-00001-of-00002.rec: checksum differs" in proc.stdout
    assert "train-00000" not in proc.stdout


def test_interrupted_build_leaves_nothing_finished_and_rerun_completes(digits_images, tmp_path, monkeypatch):
    out = str(tmp_path / "shards")
    real = pack.write_rec_shard
    calls = []

    def interrupted(out_dir, name, items, *args):
        calls.append(name)
        if len(calls) == 2:  # ctrl+c in the middle of the second shard
            raise KeyboardInterrupt
        return real(out_dir, name, items, *args)

    monkeypatch.setattr(pack, "write_rec_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pack.build(digits_images, out, shards=3, encoding=".png", color=False, workers=1, **QUIET)
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    first = os.path.join(out, "train-00000-of-00003.rec")
    mtime = os.path.getmtime(first)
    monkeypatch.setattr(pack, "write_rec_shard", real)
    manifest = pack.build(digits_images, out, shards=3, encoding=".png", color=False, workers=1, **QUIET)
    assert os.path.getmtime(first) == mtime  # the finished shard was kept, not rewritten
    assert manifest.total_records == 1797 and verify(out) == []


class _Freed:
    """Garbage that only the cycle collector frees, noting which process freed it."""
    def __init__(self, log):
        self.log, self.cycle = log, self

    def __del__(self):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def test_packing_workers_never_free_the_garbage_they_inherit(tmp_path):
    """CI hung in a packing test run in the suite's process: a pool worker's collector freed an MXNet
    iterator an earlier test had left as garbage, and its free waited forever for decode threads
    that the fork had not copied."""
    import gc
    log = str(tmp_path / "freed")
    gc.disable()   # the garbage outlives this test's own allocations
    try:
        _Freed(log)
        with pack._pool(2) as pool:
            pool.map(gc.collect, [2] * 8, chunksize=1)   # each worker's collector, run in full
    finally:
        gc.enable()
    assert {int(pid) for pid in open(log).read().split()} == {os.getpid()}


@pytest.mark.slow
def test_sigkill_mid_shard_leaves_no_finished_looking_shard(digits_images, tmp_path):
    out = str(tmp_path / "shards")
    cmd = [os.path.join(os.path.dirname(sys.executable), "mxdl-pack"), "build", digits_images, out,
           "--shards", "1", "--workers", "1", "--quality", "100", "--resize", "256"]  # big records: seconds to write
    proc = start_job(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = os.path.join(out, ".train-00000-of-00001.rec.tmp")
    wait_for_file(tmp, proc, 60, holds=lambda text: len(text) > 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(out, "train-00000-of-00001.rec"))
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    run_cli(*cmd[0:1], *cmd[1:])
    assert verify(out) == []


def test_rebuild_with_other_options_needs_overwrite(photos_tree, tmp_path):
    out = str(tmp_path / "o")
    pack.build(photos_tree, out, **QUIET)
    with pytest.raises(UserError, match="pass --overwrite"):
        pack.build(photos_tree, out, resize=32, **QUIET)
    pack.build(photos_tree, out, resize=32, overwrite=True, **QUIET)
    assert verify(out) == []


def test_cli_build_inspect_and_contact_sheet(photos_tree, tmp_path):
    out = str(tmp_path / "cli")
    run_in_process("mxdl-pack", "build", photos_tree, out, "--size", "48x48", "--split-sizes", "train=0.5,val=0.5",
            "--shards", "2", "--workers", "2")
    proc = run_in_process("mxdl-pack", "inspect", out, "--grid", str(tmp_path / "sheet.png"), "--per-class", "3")
    assert "train: 6 images in 2 shard(s)" in proc.stdout and "classes (2): china, flower" in proc.stdout
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (2 * 64, 120 + 3 * 64, 3)
    bad = run_in_process("mxdl-pack", "build", str(tmp_path / "missing"), out, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: input not found")
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_im2rec_shards_are_adopted_and_trainable(digits_images, tmp_path):
    """Shards written by MXNet's own tools/im2rec.py work with mxdl's loaders after `adopt`."""
    import mxnet
    im2rec = os.path.join(os.path.dirname(mxnet.__file__), "tools", "im2rec.py")
    out = tmp_path / "im2rec"
    out.mkdir()
    prefix = str(out / "digits")
    subprocess.run([sys.executable, im2rec, "--list", "--recursive", "--train-ratio", "0.8", prefix, digits_images],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, im2rec, "--encoding", ".png", "--color", "0", "--num-thread", "2", prefix,
                    digits_images], check=True, capture_output=True)
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{i}\n" for i in range(10)))
    run_in_process("mxdl-pack", "adopt", str(out), "--prefix", "train=digits_train", "--prefix", "val=digits_val",
            "--classes", str(names))
    manifest = Manifest.load(str(out))
    assert manifest.splits["train"].records + manifest.splits["val"].records == 1797
    assert manifest.image_shape == [8, 8, 1]
    assert verify(str(out)) == []
    run_dir = tmp_path / "run"
    run_in_process("mxdl-train", os.path.join(os.path.dirname(__file__), "..", "configs", "digits.yaml"),
            f"data.dir={out}", "train.epochs=2", "train.log_interval=100000", "--output", str(run_dir))
    assert json.load(open(run_dir / "history.json"))["epochs"][-1]["val_acc"] > 0.8


def _split_tree(root, photos_tree, splits=("train", "val", "test")):
    """train/ val/ test/ folders, each a copy of the photos' class folders."""
    for split in splits:
        shutil.copytree(photos_tree, os.path.join(root, split))
    return str(root)


def test_split_folders_become_splits(photos_tree, tmp_path):
    src = _split_tree(tmp_path / "data", photos_tree, ("train", "validation", "test"))
    out = str(tmp_path / "out")
    manifest = pack.build(src, out, **QUIET)
    assert manifest.classes == ["china", "flower"]
    assert {k: v.records for k, v in manifest.splits.items()} == {"train": 12, "val": 12, "test": 12}
    # every record's label matches the class folder it came from
    for split in ("train", "val", "test"):
        shard = manifest.splits[split].shards[0].name
        for line in open(os.path.join(out, shard + ".lst")):
            _, label, path = line.rstrip("\n").split("\t")
            assert manifest.classes[int(float(label))] == os.path.basename(os.path.dirname(path))


def test_split_folders_carve_val_from_train_or_merge(photos_tree, tmp_path):
    src = _split_tree(tmp_path / "data", photos_tree, ("train", "test"))
    carved = pack.build(src, str(tmp_path / "a"), split="train=0.5,val=0.5", **QUIET)
    assert {k: v.records for k, v in carved.splits.items()} == {"train": 6, "val": 6, "test": 12}
    merged = pack.build(src, str(tmp_path / "b"), split="train=0.5,val=0.25,test=0.25", merge_splits=True, **QUIET)
    assert {k: v.records for k, v in merged.splits.items()} == {"train": 12, "val": 6, "test": 6}
    with pytest.raises(UserError, match="'test', which the dataset layout already defines"):
        pack.build(src, str(tmp_path / "c"), split="train=0.5,test=0.5", **QUIET)


def test_flat_val_folder_with_a_label_file(photos_tree, tmp_path):
    src = _split_tree(tmp_path / "data", photos_tree, ("train",))
    os.makedirs(os.path.join(src, "val"))
    rows = []
    for label, name in enumerate(("china", "flower")):
        for i in range(3):
            flat = f"ILSVRC_val_{label}{i}.jpg"
            shutil.copy(os.path.join(photos_tree, name, f"{i}.jpg"), os.path.join(src, "val", flat))
            rows.append(f"{flat} {label if i else name}")  # indices and class names both work
    open(os.path.join(src, "val.txt"), "w").write("\n".join(rows) + "\n")
    listing = list_images(src)
    assert Counter(it.label for it in listing.splits["val"]) == {0: 3, 1: 3}
    for item in listing.splits["val"]:
        assert os.path.basename(item.path).startswith(f"ILSVRC_val_{item.label}")


def test_split_folder_errors(photos_tree, tmp_path):
    src = _split_tree(tmp_path / "d1", photos_tree, ("train", "val"))
    shutil.rmtree(os.path.join(src, "val", "flower"))
    os.makedirs(os.path.join(src, "val", "tulip"))
    shutil.copy(os.path.join(photos_tree, "china", "0.jpg"), os.path.join(src, "val", "tulip", "0.jpg"))
    with pytest.raises(UserError, match="only in train: flower; only in val: tulip"):
        list_images(src)
    src = _split_tree(tmp_path / "d2", photos_tree, ("train",))
    os.makedirs(os.path.join(src, "val"))
    with pytest.raises(UserError, match="split folder 'val' .* has no class folders and no label file"):
        pack.build(src, str(tmp_path / "out"), **QUIET)
    assert not os.path.exists(tmp_path / "out")


def test_an_image_a_flat_split_does_not_list_is_reported(digits_images, tmp_path):
    """A flat val/ labelled by val.txt: an image the file leaves out was dropped without a word."""
    root = tmp_path / "tree"
    for label in ("0", "1"):
        shutil.copytree(os.path.join(digits_images, label), root / "train" / label)
    (root / "val").mkdir()
    first = sorted(os.listdir(root / "train" / "0"))[0]
    for name in ("a.png", "b.png", "c.png"):
        shutil.copy(root / "train" / "0" / first, root / "val" / name)
    (root / "val.txt").write_text("a.png 0\nb.png 1\n")
    listing = list_images(str(root))
    assert sorted(os.path.basename(it.path) for it in listing.splits["val"]) == ["a.png", "b.png"]
    assert (str(root / "val" / "c.png"), "not listed in val.txt") in listing.skipped


@pytest.mark.parametrize("payload", [b"", b"abc", b"abcd" * 5,
                                     b"x" * 20 + MAGIC_WORD + b"y" * 7,        # aligned once the 24-byte header is in front
                                     b"xx" + MAGIC_WORD + b"y" * 9,            # not aligned: left as it is
                                     MAGIC_WORD * 3 + b"z",                     # cut three times in a row
                                     b"x" * 4 + MAGIC_WORD + b"q" * 4 + MAGIC_WORD])
def test_record_writer_writes_the_bytes_mxnet_writes(tmp_path, payload):
    """mxdl-pack frames records itself (recordfile.py): packing workers frame a chunk's records keyed
    from 0 and the writer sets their keys. MXNet must write and read the same bytes, including where
    the payload holds RecordIO's magic word, which the framing has to escape."""
    import mxnet as mx
    from mxdl.data.recordfile import IndexedRecordWriter, framed_images
    ours = IndexedRecordWriter(str(tmp_path / "a.idx"), str(tmp_path / "a.rec"))
    theirs = mx.recordio.MXIndexedRecordIO(str(tmp_path / "b.idx"), str(tmp_path / "b.rec"), "w")
    for keys in ([0], [1, 2]):  # the second chunk's keys are set by the writer, not by its framing
        ours.write_framed(*framed_images([k + 0.5 for k in keys], [payload + bytes([k]) for k in keys]))
    for key in range(3):
        theirs.write_idx(key, mx.recordio.pack(mx.recordio.IRHeader(0, key + 0.5, key, 0), payload + bytes([key])))
    ours.close()
    theirs.close()
    for ext in ("rec", "idx"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
    reader = mx.recordio.MXIndexedRecordIO(str(tmp_path / "a.idx"), str(tmp_path / "a.rec"), "r")
    for key in range(3):
        header, body = mx.recordio.unpack(reader.read_idx(key))
        assert (header.label, header.id, body) == (key + 0.5, key, payload + bytes([key]))
    reader.close()


def test_a_rerun_rewrites_only_the_shard_whose_input_changed_and_names_the_file(photos_tree, tmp_path):
    out, lines = str(tmp_path / "o"), []
    pack.build(photos_tree, out, shards=2, workers=1, **QUIET)
    shards = [os.path.join(out, f"train-0000{i}-of-00002.rec") for i in range(2)]
    mtimes = [os.path.getmtime(p) for p in shards]
    lst = open(shards[1][:-4] + ".lst").readline().split("\t")[2].strip()  # a file packed into shard 1
    os.utime(lst, ns=(os.stat(lst).st_atime_ns, os.stat(lst).st_mtime_ns + 10 ** 9))
    pack.build(photos_tree, out, shards=2, workers=1, log=lines.append)
    assert [os.path.getmtime(p) == m for p, m in zip(shards, mtimes)] == [True, False]
    assert any(f"train-00001-of-00002: 1 input file(s) changed since it was written (size or time), e.g. {lst}"
               in line for line in lines)


def test_checksums_taken_while_writing_are_the_files_checksums(photos_tree, tmp_path):
    """The packer hashes .rec/.idx/.lst as it writes them (no second read); the manifest must still
    hold each file's true size and sha256, with two workers and a skipped file among the records."""
    from mxdl.data.manifest import file_digest
    out = str(tmp_path / "o")
    with open(os.path.join(photos_tree, "china", "3.jpg"), "r+b") as f:
        f.truncate(200)   # cut short: skipped, so keys and offsets move past it
    pack.build(photos_tree, out, shards=2, workers=2, **QUIET)
    assert len(Manifest.load(out).skipped) == 1
    entries = [(name, meta) for split in Manifest.load(out).splits.values() for shard in split.shards
               for name, meta in shard.files.items()]
    assert {name.rsplit(".", 1)[1] for name, _ in entries} == {"rec", "idx", "lst"}
    for name, meta in entries:
        path = os.path.join(out, name)
        assert meta == {"bytes": os.path.getsize(path), "sha256": file_digest(path)}, name


def test_a_file_that_grows_while_read_is_read_whole(tmp_path, monkeypatch):
    """The packing worker reads size-from-fstat + 1 bytes; a file longer by then is read to its end."""
    from recordio_tools import images
    path = tmp_path / "a.jpg"
    path.write_bytes(os.urandom(3 << 20))
    real_fstat = os.fstat

    class Shorter:  # the size fstat saw before the file grew
        def __init__(self, st):
            self.st_size, self.st_mtime_ns = st.st_size - (2 << 20) - 5, st.st_mtime_ns

    monkeypatch.setattr(images.os, "fstat", lambda fd: Shorter(real_fstat(fd)))
    raw, (size, _) = images.read_file(str(path))
    assert raw == path.read_bytes() and size == (1 << 20) - 5
