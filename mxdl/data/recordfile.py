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


class IndexedRecordWriter:
    """A ``.rec`` and its ``.idx`` (``key<TAB>offset`` lines), as MXIndexedRecordIO writes them."""

    def __init__(self, idx_path, rec_path):
        self.rec = open(rec_path, "wb", buffering=1 << 20)
        self.idx = open(idx_path, "w", buffering=1 << 20)
        self.offset = self.count = 0

    def write(self, key, data):
        framed = frame(data)
        self.rec.write(framed)
        self.idx.write(f"{key}\t{self.offset}\n")
        self.offset += len(framed)
        self.count += 1

    def close(self):
        for f in (self.rec, self.idx):
            f.flush()
            f.close()
