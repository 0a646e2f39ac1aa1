"""The shard manifest: the one contract between what packs shards and what reads them.

``mxdl-pack build`` and ``mxdl-pack adopt`` write ``manifest.json`` through
:meth:`Manifest.assemble` and :meth:`Manifest.save`; the trainer, evaluator,
preflight, verify and inspect read it through :meth:`Manifest.load`, which
checks it first. Nothing else opens the file or knows its keys.

Schema history: 1, the layout below (manifests written before the ``schema``
key existed have the same layout and load as schema 1).
"""
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field

from ..errors import UserError
from ..fileio import atomic_write_json

MANIFEST = "manifest.json"
SCHEMA = 1
FORMATS = {"rec": ".rec", "hdf5": ".h5"}


@dataclass
class Shard:
    name: str
    records: int
    files: dict          # file name -> {"bytes": int, "sha256": hex}
    shapes: list         # the distinct HxWxC image shapes inside
    inputs: str = ""     # sha256 over the source files' (path, size, mtime); "" when adopted


@dataclass
class Split:
    records: int
    per_class: dict      # class folder name -> record count
    shards: list         # [Shard]


@dataclass
class Manifest:
    format: str          # "rec" or "hdf5"
    classes: list        # class folder names; a record's label is an index into this list
    class_names: list    # readable names, same order
    splits: dict         # split name -> Split
    image_shape: list    # HxWxC when every image has it, else None
    stats: dict          # per-channel "mean" (and "std", absent in early manifests) of the training split
    skipped: list = field(default_factory=list)   # [[path, reason]]
    tool: str = "mxdl-pack"
    version: str = ""
    created: str = ""
    source: str = ""
    options: dict = field(default_factory=dict)
    schema: int = SCHEMA
    root: str = field(default="", compare=False)  # the directory it describes; not stored

    @property
    def channels(self):
        """Channels a reader decodes records to (3 RGB or 1 grey), as the packer and ImageRecordIter do."""
        if self.image_shape:
            return self.image_shape[2]
        return 3 if self.options.get("color", True) else 1

    @property
    def total_records(self):
        return sum(s.records for s in self.splits.values())

    def split(self, name):
        if name not in self.splits:
            raise UserError(f"split '{name}' is not in {self.root or 'the shards'} "
                            f"(it has: {', '.join(self.splits)})")
        return self.splits[name]

    def shard_paths(self, split):
        """``[(name, path of .rec or .h5, path of .idx or None)]`` of a split, in order; a file the
        manifest lists but the folder lacks is one line (MXNet's reader would stop with a C++ trace)."""
        ext = FORMATS[self.format]
        paths = [(s.name, os.path.join(self.root, s.name + ext),
                  os.path.join(self.root, s.name + ".idx") if ext == ".rec" else None)
                 for s in self.split(split).shards]
        for _, data, index in paths:
            for path in (data, index):
                if path and not os.path.isfile(path):
                    raise UserError(f"{path} is missing: the manifest of {self.root} lists it (copy the whole "
                                    f"folder, or check it with mxdl-pack verify {self.root})")
        return paths

    def to_json(self):
        out = asdict(self)
        out.pop("root")
        out["total_records"] = self.total_records
        return out

    def save(self, root):
        atomic_write_json(os.path.join(root, MANIFEST), self.to_json())
        self.root = root

    @classmethod
    def load(cls, root):
        path = os.path.join(root, MANIFEST)
        if not os.path.isdir(root):
            raise UserError(f"{root} does not exist (pack images there with mxdl-pack build)")
        if not os.path.isfile(path):
            raise UserError(f"{root} has no {MANIFEST}: it is not a finished mxdl-pack output "
                            "(re-run the same mxdl-pack build command to complete it)")
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except (ValueError, UnicodeDecodeError) as err:
            raise UserError(f"{path} is not valid JSON ({str(err).splitlines()[0]}); "
                            f"re-pack with mxdl-pack build --overwrite") from None
        manifest = cls.from_json(raw, path)
        manifest.root = root
        return manifest

    @classmethod
    def from_json(cls, raw, where=MANIFEST):
        _check_layout(raw, where)
        splits = {name: Split(s["records"], s["per_class"], [Shard(**{k: sh[k] for k in ("name", "records", "files",
                                                                                         "shapes", "inputs")
                                                                        if k in sh})
                                                             for sh in s["shards"]])
                  for name, s in raw["splits"].items()}
        kept = {k: raw[k] for k in ("format", "classes", "class_names", "image_shape", "stats", "skipped",
                                    "tool", "version", "created", "source", "options") if k in raw}
        return cls(splits=splits, schema=raw.get("schema", 1), **kept)

    @classmethod
    def assemble(cls, fmt, classes, class_names, shard_entries, stats, tool, version, source, options,
                 skipped=()):
        """Build from per-shard entries ``{split: [{"name", "records", "per_class" (label -> count),
        "files", "shapes"}]}``, the form both the packer and adopt produce."""
        splits = {}
        for name, entries in shard_entries.items():
            per_class = {}
            for e in entries:
                for label, count in e["per_class"].items():
                    per_class[int(label)] = per_class.get(int(label), 0) + count
            splits[name] = Split(sum(e["records"] for e in entries),
                                 {classes[k]: per_class[k] for k in sorted(per_class)},
                                 [Shard(e["name"], e["records"], e["files"], [list(s) for s in e["shapes"]],
                                        e.get("inputs", "")) for e in entries])
        shapes = {tuple(s) for split in splits.values() for sh in split.shards for s in sh.shapes}
        return cls(format=fmt, classes=list(classes), class_names=list(class_names), splits=splits,
                   image_shape=list(next(iter(shapes))) if len(shapes) == 1 else None,
                   stats={"mean": stats["mean"], "std": stats["std"]}, skipped=[list(s) for s in skipped],
                   tool=tool, version=version, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   source=source, options=options)


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_entries(root, names):
    """What the manifest records of each shard file, so verify and preflight can spot a changed one."""
    return {f: {"bytes": os.path.getsize(os.path.join(root, f)), "sha256": file_digest(os.path.join(root, f))}
            for f in names}


# "auto" verification reads every byte of shards up to this total: sha256 takes 0.75 s per GiB of
# cached files on a 2-core machine (more from disk); --verify-data forces it on larger data.
VERIFY_AUTO_BYTES = 2 << 30


def shard_problems(manifest, verify="auto"):
    """``(problems, bytes checksummed)``: every shard file against the manifest, its size always and
    its checksum when ``verify`` is "on", or "auto" and the shards total at most VERIFY_AUTO_BYTES
    (a corrupted-but-decodable record otherwise trains as noise, with libjpeg's warnings)."""
    shards = [shard for split in manifest.splits.values() for shard in split.shards]
    size = sum(meta["bytes"] for shard in shards for meta in shard.files.values())
    checksums = verify == "on" or (verify == "auto" and size <= VERIFY_AUTO_BYTES)
    problems = [f"{manifest.root}/{problem}" for shard in shards
                for problem in check_shard_files(manifest.root, shard.files, checksums)]
    return problems, size if checksums else 0


def check_shard_files(root, files, checksums=True):
    """Problems with a shard's files (``{name: {"bytes", "sha256"}}``, as the manifest records them):
    missing, wrong size, and (reading every byte) a checksum that differs."""
    for name, meta in files.items():
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            yield f"{name}: missing"
        elif os.path.getsize(path) != meta["bytes"]:
            yield f"{name}: {os.path.getsize(path)} bytes, manifest says {meta['bytes']}"
        elif checksums and file_digest(path) != meta["sha256"]:
            yield f"{name}: checksum differs from the manifest (file changed or corrupted)"


def _check_layout(raw, where):
    """One line naming the first thing wrong, so a damaged or foreign file never half-works."""
    def bad(what):
        raise UserError(f"{where}: {what}; re-pack with mxdl-pack build (or mxdl-pack adopt)")

    if not isinstance(raw, dict):
        bad("not a JSON object")
    schema = raw.get("schema", 1)
    if not isinstance(schema, int) or schema < 1:
        bad(f"schema {schema!r} is not a schema number")
    if schema > SCHEMA:
        raise UserError(f"{where} has manifest schema {schema}, newer than this mxdl reads ({SCHEMA}): "
                        f"upgrade mxdl")
    for key in ("format", "classes", "splits", "stats"):
        if key not in raw:
            bad(f"key '{key}' is missing")
    if raw["format"] not in FORMATS:
        bad(f"format {raw['format']!r} is not one of {', '.join(FORMATS)}")
    classes = raw["classes"]
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        bad("'classes' must be a non-empty list of names")
    if len(raw.get("class_names", classes)) != len(classes):
        bad("'class_names' and 'classes' differ in length")
    raw.setdefault("class_names", list(classes))
    if not (isinstance(raw["splits"], dict) and raw["splits"]):
        bad("'splits' must name at least one split")
    for name, split in raw["splits"].items():
        _check_split(name, split, set(classes), bad)
    stats = raw["stats"]
    if not (isinstance(stats, dict) and "mean" in stats):
        bad("'stats' has no 'mean'")


def _check_split(name, split, classes, bad):
    if not isinstance(split, dict) or not all(k in split for k in ("records", "per_class", "shards")):
        bad(f"split '{name}' needs records, per_class and shards")
    shards = split["shards"]
    if not (isinstance(shards, list) and shards):
        bad(f"split '{name}' lists no shards")
    for shard in shards:
        if not (isinstance(shard, dict) and all(k in shard for k in ("name", "records", "files", "shapes"))):
            bad(f"a shard of split '{name}' needs name, records, files and shapes")
        if not (isinstance(shard["records"], int) and shard["records"] >= 0):
            bad(f"shard {shard['name']} has record count {shard['records']!r}")
    if sum(s["records"] for s in shards) != split["records"]:
        bad(f"split '{name}': its shards hold {sum(s['records'] for s in shards)} records, "
            f"it says {split['records']}")
    unknown = sorted(set(split["per_class"]) - classes)
    if unknown:
        bad(f"split '{name}' counts classes not in 'classes': {', '.join(unknown[:3])}")
