"""Turn a dataset on disk into a labelled image list.

Layouts understood (detected, or named with ``--layout``):

- ``folder``: one sub-folder per class (``animals/cat/1.jpg``).
- ``csv``: a CSV or TSV of ``path,label`` (label a class name or an integer).
- ``filename``: the class is the file name's prefix (``cat.123.jpg``, Kaggle Dogs vs Cats).
- ``tiny-imagenet``: ``train/<wnid>/images/*.JPEG`` plus ``val/val_annotations.txt``.
- ``lst``: an MXNet ``.lst`` (``index<TAB>label<TAB>path``), as ``im2rec.py --list`` writes.
- ``splits``: top-level ``train/``, ``val/`` (or ``valid/``, ``validation/``) and ``test/``
  folders, each holding the same class folders (ImageNet after the usual val
  preparation, CIFAR-10 dumps, most public datasets). A split folder may instead hold
  its images flat, with a label file beside it (``val.txt``, ``val.csv`` or
  ``val.tsv``) or inside it (``labels.txt``/``.csv``/``.tsv``): one ``file label`` per
  line, the label a class name or an index into the sorted class list, as in
  ImageNet's ``val.txt``.

Every layout returns a :class:`Listing`: class names (sorted, written once as
labels.txt), and items per predefined split (``{"all": [...]}`` when the
layout has no splits of its own). Files without an image extension are not
listed but reported in ``skipped``.
"""
import array
import csv
import os
from dataclasses import dataclass, field

import numpy as np

from mxdl.data.preprocess import IMAGE_EXTS
from mxdl.errors import UserError



@dataclass(slots=True)  # one per image: slots keep a million-image listing small
class Item:
    path: str   # absolute path of the image file
    label: int


@dataclass
class Listing:
    classes: list
    splits: dict                       # split name -> [Item]
    skipped: list = field(default_factory=list)   # [(path, reason)]
    readable_names: dict = field(default_factory=dict)  # class -> human-readable name


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTS)


def _walk_files(root, skipped, follow_links=False):
    """Files under root, sorted. Linked folders are skipped (and said so) unless ``follow_links``:
    a link to '.' or '..' would list images twice or under another class. Even followed, a link back
    to root or above it is skipped, and each real folder is walked once, so a loop ends."""
    top = os.path.realpath(root)
    seen = {top}
    for d, dirs, files in os.walk(root, followlinks=follow_links):
        kept = []
        for x in sorted(dirs):
            path, real = os.path.join(d, x), os.path.realpath(os.path.join(d, x))
            if x.startswith("."):
                continue
            if os.path.islink(path) and not follow_links:
                skipped.append((path, "a link to a folder, not followed (--follow-links follows it)"))
            elif os.path.islink(path) and (top + os.sep).startswith(real + os.sep):
                skipped.append((path, "a link back to this folder or above it, not followed"))
            elif real not in seen:
                seen.add(real)
                kept.append(x)
        dirs[:] = kept
        folder = os.path.join(d, "")  # joined once: os.path.join per file was a third of the walk
        yield from (folder + name for name in sorted(files) if not name.startswith("."))


def _split_images(paths, skipped):
    images = []
    for p in paths:
        if "\n" in p or "\t" in p:
            skipped.append((p, "a tab or newline in the path (a .lst line cannot hold it)"))
        elif _is_image(p):
            images.append(p)
        else:
            skipped.append((p, "not an image file extension"))
    return images


def from_folder(root, follow_links=False):
    classes = sorted(d for d in os.listdir(root)
                     if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise UserError(f"{root} has no class sub-folders (expected ROOT/<class>/<image>)")
    items, skipped = [], []
    for label, name in enumerate(classes):
        images = _split_images(_walk_files(os.path.join(root, name), skipped, follow_links), skipped)
        if not images:
            raise UserError(f"class folder '{name}' in {root} holds no images")
        items += [Item(p, label) for p in images]
    return Listing(classes, {"all": items}, skipped)


def from_filenames(root, follow_links=False):
    skipped = []
    images = _split_images(_walk_files(root, skipped, follow_links), skipped)
    if not images:
        raise UserError(f"{root} holds no images")
    names = [os.path.basename(p).split(".")[0] for p in images]
    classes = sorted(set(names))
    if len(classes) < 2:
        raise UserError(f"file names in {root} give only {len(classes)} class(es); "
                        "expected names like cat.1.jpg, dog.2.jpg")
    index = {c: i for i, c in enumerate(classes)}
    return Listing(classes, {"all": [Item(p, index[n]) for p, n in zip(images, names)]}, skipped)


def _read_table(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            sample = f.read(4096)
            f.seek(0)
            delimiter = "\t" if "\t" in sample else "," if "," in sample else " "
            rows = [[c for c in r if c] for r in csv.reader(f, delimiter=delimiter) if r and not r[0].startswith("#")]
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text list of images (CSV, TSV or .lst); give the folder that holds "
                        f"the class folders, or a list file") from None
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image"):
        rows = rows[1:]
    return rows


def from_csv(path, root=None):
    root = root or os.path.dirname(os.path.abspath(path))
    rows = _read_table(path)
    if not rows:
        raise UserError(f"label file {path} has no rows")
    for n, row in enumerate(rows, 1):
        if len(row) < 2:
            raise UserError(f"label file {path} line {n}: expected 'path,label', got {row!r}")
    labels = [r[1].strip() for r in rows]
    numeric = all(l.lstrip("-").isdigit() for l in labels)
    classes = sorted(set(labels), key=int if numeric else str)
    index = {c: i for i, c in enumerate(classes)}
    skipped, items = [], []
    for row, label in zip(rows, labels):
        p = os.path.join(root, row[0].strip())
        if _is_image(p):
            items.append(Item(p, index[label]))
        else:
            skipped.append((p, "not an image file extension"))
    _check_tree_agrees(root, items, classes, path)
    return Listing(classes, {"all": items}, skipped)


def _check_tree_agrees(root, items, classes, label_file):
    """When images sit in class folders, the label file must agree with them."""
    folders = set(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not folders or not set(classes) <= folders:
        return
    for item in items:
        folder = os.path.relpath(item.path, root).split(os.sep)[0]
        if folder in folders and folder != classes[item.label]:
            raise UserError(f"label file {label_file} says {os.path.relpath(item.path, root)} is "
                            f"'{classes[item.label]}' but it sits in folder '{folder}'")


def _lst_label(text, path, n):
    """A class index as im2rec writes it (``3`` or ``3.000000``); a fraction, a negative number or a
    word is one line, not a truncated, refused-later or traceback label."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or value != int(value) or value < 0:
        raise UserError(f"{path} line {n}: label '{text}' is not a class index (a whole number from 0); "
                        "multi-label .lst files are not supported")
    return int(value)


def from_lst(path, root=None):
    root = root or os.path.dirname(os.path.abspath(path))
    items, labels = [], set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise UserError(f"{path} line {n}: expected 'index<TAB>label<TAB>path'")
            label = _lst_label(parts[1], path, n)
            labels.add(label)
            items.append(Item(os.path.join(root, parts[-1]), label))
    if not items:
        raise UserError(f"{path} lists no images")
    classes = [str(i) for i in range(max(labels) + 1)]
    return Listing(classes, {"all": items})


def from_tiny_imagenet(root, follow_links=False):
    wnids_file = os.path.join(root, "wnids.txt")
    with open(wnids_file) as f:
        classes = sorted(line.strip() for line in f if line.strip())
    index = {c: i for i, c in enumerate(classes)}
    skipped, train = [], []
    for wnid in classes:
        images = _split_images(_walk_files(os.path.join(root, "train", wnid, "images"), skipped, follow_links),
                               skipped)
        if not images:
            raise UserError(f"Tiny ImageNet class {wnid} has no training images")
        train += [Item(p, index[wnid]) for p in images]
    splits = {"train": train}
    ann = os.path.join(root, "val", "val_annotations.txt")
    if os.path.isfile(ann):
        with open(ann) as f:
            rows = [line.split("\t") for line in f if line.strip()]
        splits["val"] = [Item(os.path.join(root, "val", "images", r[0]), index[r[1]]) for r in rows]
    names = {}
    words = os.path.join(root, "words.txt")
    if os.path.isfile(words):
        with open(words) as f:
            for line in f:
                wnid, _, text = line.rstrip("\n").partition("\t")
                if wnid in index:
                    names[wnid] = text.split(",")[0].strip()
    return Listing(classes, splits, skipped, names)


SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _subdirs(root):
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def _split_label_file(root, folder):
    candidates = [os.path.join(root, folder + ext) for ext in (".txt", ".csv", ".tsv")]
    candidates += [os.path.join(root, folder, "labels" + ext) for ext in (".txt", ".csv", ".tsv")]
    found = [c for c in candidates if os.path.isfile(c)]
    if not found:
        raise UserError(f"split folder '{folder}' in {root} has no class folders and no label file "
                        f"(looked for {folder}.txt/.csv/.tsv beside it and labels.txt/.csv/.tsv inside)")
    return found[0]


def _flat_split(root, folder, classes):
    """Images directly in a split folder, labelled by a file: class names or sorted-class indices."""
    label_file = _split_label_file(root, folder)
    index = {c: i for i, c in enumerate(classes)}
    items, skipped, seen = [], [], {}
    for n, row in enumerate(_read_table(label_file), 1):
        if len(row) < 2:
            raise UserError(f"label file {label_file} line {n}: expected 'file label', got {row!r}")
        name, label = row[0].strip(), row[1].strip()
        if name in seen:   # which of two labels is right cannot be guessed
            raise UserError(f"label file {label_file} lists {name} twice (lines {seen[name]} and {n}); keep one")
        seen[name] = n
        if label in index:
            target = index[label]
        elif label.isdigit() and int(label) < len(classes):
            target = int(label)
        else:
            raise UserError(f"label file {label_file} line {n}: '{label}' is neither a class of the train "
                            f"split nor an index below {len(classes)}")
        path = os.path.join(root, folder, name)
        if not os.path.isfile(path):
            skipped.append((path, f"listed in {os.path.basename(label_file)} but missing"))
        elif _is_image(path):
            items.append(Item(path, target))
        else:
            skipped.append((path, "not an image file extension"))
    listed = {os.path.normpath(name) for name in seen}
    skipped += [(os.path.join(root, folder, f), f"not listed in {os.path.basename(label_file)}")
                for f in sorted(os.listdir(os.path.join(root, folder)))
                if _is_image(os.path.join(root, folder, f)) and f not in listed]
    return items, skipped


def from_split_folders(root, follow_links=False):
    folders = [d for d in _subdirs(root) if d in SPLIT_FOLDERS]
    names = [SPLIT_FOLDERS[d] for d in folders]
    if len(set(names)) != len(names):
        raise UserError(f"{root} has two folders for one split ({', '.join(folders)}); keep one")
    if "train" not in names:
        raise UserError(f"{root} has split folders ({', '.join(folders)}) but no train/")
    by_name = dict(zip(names, folders))
    train = from_folder(os.path.join(root, by_name["train"]), follow_links)
    classes, splits, skipped = train.classes, {"train": train.splits["all"]}, list(train.skipped)
    for name, folder in by_name.items():
        if name == "train":
            continue
        path = os.path.join(root, folder)
        if not _subdirs(path):
            splits[name], flat_skipped = _flat_split(root, folder, classes)
            skipped += flat_skipped
            continue
        listing = from_folder(path, follow_links)
        if listing.classes != classes:
            only_train = sorted(set(classes) - set(listing.classes))
            only_here = sorted(set(listing.classes) - set(classes))
            raise UserError(f"class folders of {folder}/ differ from train/: only in train: "
                            f"{', '.join(only_train[:5]) or '-'}; only in {folder}: {', '.join(only_here[:5]) or '-'}")
        splits[name] = listing.splits["all"]
        skipped += listing.skipped
    return Listing(classes, splits, skipped)


LAYOUTS = {
    "folder": from_folder,
    "filename": from_filenames,
    "csv": from_csv,
    "lst": from_lst,
    "tiny-imagenet": from_tiny_imagenet,
    "splits": from_split_folders,
}


def detect_layout(src):
    if os.path.isfile(src):
        return "lst" if src.endswith(".lst") else "csv"
    if not os.path.isdir(src):
        raise UserError(f"input not found: {src}")
    if os.path.isfile(os.path.join(src, "wnids.txt")) and os.path.isdir(os.path.join(src, "train")):
        return "tiny-imagenet"
    entries = [e for e in os.listdir(src) if not e.startswith(".")]
    if not entries:
        raise UserError(f"input folder {src} is empty")
    dirs = [e for e in entries if os.path.isdir(os.path.join(src, e))]
    if dirs and set(dirs) <= set(SPLIT_FOLDERS):
        return "splits"
    if dirs:
        return "folder"
    return "filename"


WALKED = ("folder", "filename", "tiny-imagenet", "splits")  # layouts found by walking folders


def list_images(src, layout=None, follow_links=False):
    layout = layout or detect_layout(src)
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout '{layout}'; choose from {', '.join(LAYOUTS)}")
    if layout in ("csv", "lst") and not os.path.isfile(src):
        raise UserError(f"layout '{layout}' needs a file, got {src}")
    if layout not in ("csv", "lst") and not os.path.isdir(src):
        raise UserError(f"layout '{layout}' needs a folder, got {src}")
    listing = LAYOUTS[layout](src, follow_links) if layout in WALKED else LAYOUTS[layout](src)
    if not any(listing.splits.values()):
        raise UserError(f"no images found in {src}")
    _list_each_file_once(listing)
    return listing


def _list_each_file_once(listing):
    """Keep the first listing of each real file (same device and inode). A file reached twice, through
    a link, a hard link or a repeated CSV row, would otherwise sit in train and val at once, or under
    two classes. Repeats are found by sorting the files' identities (:func:`_identities`)."""
    order = sorted(listing.splits, key=lambda s: (s != "train", s))
    dev, ino = _identities(item for split in order for item in listing.splits[split])
    by_id = np.lexsort((ino, dev))  # equal ids adjacent; lexsort is stable: first listed first
    same = np.ones(max(len(dev) - 1, 0), bool)
    for column in (dev, ino):  # a column at a time: this is a listing's peak memory
        values = column[by_id]
        same &= values[1:] == values[:-1]
    repeat = np.zeros(len(dev), bool)
    repeat[by_id[1:]] = same & (values[1:] > 0)   # 0: unreadable, no repeat
    if not repeat.any():
        return
    items = [item for split in order for item in listing.splits[split]]
    first_of = {}
    for i in by_id:
        key = dev[i], ino[i]
        if not repeat[i]:
            first_of[key] = items[i].path
        else:
            listing.skipped.append((items[i].path, f"the same file as {first_of[key]}, listed once"))
    start = 0
    for split in order:
        n = len(listing.splits[split])
        listing.splits[split] = [item for j, item in enumerate(listing.splits[split]) if not repeat[start + j]]
        start += n


def _identities(items):
    """Each item's file as two arrays: its device, numbered in the order met from 1, and its inode
    + 1; both 0 when it cannot be stat'ed (the packer skips it with its reason). 12 bytes an image,
    where a dict of tuples to paths was the largest part of a listing's memory; the folder entries
    read on the way are gone on return."""
    identity, devices, dev, ino = _FileIdentity(), {}, array.array("I"), array.array("Q")
    for item in items:
        found = identity(item.path)
        dev.append(devices.setdefault(found[0], len(devices) + 1) if found else 0)
        ino.append(found[1] + 1 if found else 0)
    return np.frombuffer(dev, np.uint32), np.frombuffer(ino, np.uint64)


def _stat_identity(path):
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


class _FileIdentity:
    """A file's ``(st_dev, st_ino)``, or None when it cannot be stat'ed, read from its folder's
    entries: one scandir a folder (its inode numbers come with the names) and one stat for the
    folder's device, where a stat per file took two thirds of listing 200,000 images (3.6 us
    each). A link is stat'ed, to reach the file it names; so is anything but a plain file of the
    folder, and every file of a folder whose entries disagree with stat on one of its files
    (overlayfs over several filesystems numbers them apart). One folder's entries are held at a
    time, as a walk lists them; a folder met again later (a CSV that interleaves folders) has its
    files stat'ed rather than scanned again."""

    def __init__(self):
        self._folder, self._entries, self._scanned = None, None, set()   # entries: (dev, {name: inode})

    def __call__(self, path):
        folder, slash, name = path.rpartition("/")   # os.path.split's work, in a fifth of its time
        folder = folder or ("/" if slash else ".")
        if folder != self._folder:
            self._folder, self._entries = folder, None if folder in self._scanned else self._read(folder)
            self._scanned.add(folder)
        ino = self._entries[1].get(name) if self._entries else None
        return (self._entries[0], ino) if ino else _stat_identity(path)

    @staticmethod
    def _read(folder):
        try:
            dev = os.stat(folder).st_dev
            with os.scandir(folder) as listed:
                inodes = {entry.name: entry.inode() for entry in listed if entry.is_file(follow_symlinks=False)}
        except OSError:
            return None
        sample = next(iter(inodes), None)
        agree = sample is not None and _stat_identity(os.path.join(folder, sample)) == (dev, inodes[sample])
        return (dev, inodes) if agree else None
