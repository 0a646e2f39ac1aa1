"""The RecordIO container: dmlc's record framing and MXNet's image record header, in one place.

The packer writes shards with :class:`IndexedRecordWriter` instead of MXNet's
``MXIndexedRecordIO``. Why: importing MXNet takes over a second, more than packing 10,000
CIFAR images takes on two cores, and the ctypes call per record cost as much again; the
format is small and fixed. The bytes are the ones MXNet writes (tests/test_pack.py compares
them with ``MXIndexedRecordIO``'s on the same records, including payloads that hold the magic
word), and MXNet's readers read them.

Framing (dmlc-core recordio): each record is ``magic, lrec, data``, padded with zeros to a
multiple of 4 bytes, where ``lrec = cflag << 29 | length``. A magic word at a 4-byte-aligned
position inside the data would look like a record start, so the writer cuts the data there and
drops the word: the parts are flagged 1 (first), 2 (middle) and 3 (last), and a reader puts the
magic back between them. A record written whole has cflag 0.

Image records start with MXNet's ``IRHeader`` (flag, label, id, id2) as ``<IfQQ``.
"""
import hashlib
import struct

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_IR_HEADER = struct.Struct("<IfQQ")
_FRAME = struct.Struct("<II")
_PADDING = [b"\0" * n for n in range(4)]


def image_record(label, key, payload):
    """MXNet's ``recordio.pack(IRHeader(0, label, key, 0), payload)``."""
    return _IR_HEADER.pack(0, float(label), key, 0) + payload


def _aligned_magic(data):
    """Positions of the magic word at 4-byte-aligned offsets of ``data`` (bytes.find runs in C)."""
    found, start = [], data.find(_MAGIC_BYTES)
    while start != -1:
        if start % 4 == 0:
            found.append(start)
            start = data.find(_MAGIC_BYTES, start + 4)
        else:
            start = data.find(_MAGIC_BYTES, start + 1)
    return found


def frame(data):
    """``data`` as the bytes dmlc's RecordIOWriter writes for it."""
    if len(data) >= 1 << 29:
        raise ValueError(f"a RecordIO record holds less than 512 MiB, got {len(data)} bytes")
    cuts = _aligned_magic(data)
    if not cuts:  # nearly every record: one part
        return _FRAME.pack(MAGIC, len(data)) + data + _PADDING[-len(data) % 4]
    parts, begin = [], 0
    for i, cut in enumerate(cuts):
        parts.append(_FRAME.pack(MAGIC, (1 if i == 0 else 2) << 29 | cut - begin) + data[begin:cut])
        begin = cut + 4
    parts.append(_FRAME.pack(MAGIC, 3 << 29 | len(data) - begin) + data[begin:])
    parts.append(_PADDING[-len(data) % 4])
    return b"".join(parts)


# Where a framed image record holds its key: after the frame header and the IRHeader's flag and
# label. The framing cannot cut the record there: flag and id2 are 0, the label is a class index
# (never the magic word's float bits) and the key is below 2^32 and below the magic word.
_KEY_AT = _FRAME.size + 8
_KEY = struct.Struct("<Q")


def framed_images(labels, payloads):
    """Image records as the ``.rec`` holds them, keyed 0, 1, ... (:meth:`IndexedRecordWriter.write_framed`
    sets the keys): ``(bytes of every record, each record's length)``. Packing workers frame their
    own images, so the writing process only writes: framing each record there cost it a third of
    its time."""
    parts = [frame(image_record(label, key, payload)) for key, (label, payload) in enumerate(zip(labels, payloads))]
    return b"".join(parts), [len(p) for p in parts]


class HashedFile:
    """A file written through a 1 MB buffer, with the size and sha256 of what was written: the
    manifest's checksums without reading every shard again after packing it (at 0.75 s a GiB from
    the page cache, minutes for an ImageNet-sized dataset, more from disk)."""

    def __init__(self, path):
        self.file = open(path, "wb", buffering=1 << 20)
        self.sha256, self.size = hashlib.sha256(), 0

    def write(self, data):
        self.file.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def entry(self):
        """The manifest's record of this file (see manifest.file_entries)."""
        return {"bytes": self.size, "sha256": self.sha256.hexdigest()}

    def close(self):
        self.file.close()


class IndexedRecordWriter:
    """A ``.rec`` and its ``.idx`` (``key<TAB>offset`` lines), as MXIndexedRecordIO writes them."""

    def __init__(self, idx_path, rec_path):
        self.rec, self.idx = HashedFile(rec_path), HashedFile(idx_path)
        self.offset = self.count = 0

    def write_framed(self, records, lengths):
        """Records from :func:`framed_images`, keyed from the next key on (0 for the first record of
        the shard, as MXNet's writers key them in im2rec's .lst order)."""
        records, first = bytearray(records), self.count
        if first + len(lengths) >= MAGIC:
            raise ValueError(f"a shard holds fewer than {MAGIC} records")
        offset, lines = 0, []
        for key, length in enumerate(lengths, first):
            _KEY.pack_into(records, offset + _KEY_AT, key)
            lines.append(f"{key}\t{self.offset + offset}\n")
            offset += length
        self.rec.write(records)
        self.idx.write("".join(lines).encode())
        self.offset += offset
        self.count += len(lengths)

    def close(self):
        for f in (self.rec, self.idx):
            f.close()
