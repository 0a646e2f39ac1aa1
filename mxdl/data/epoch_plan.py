"""Which records each worker reads in an epoch: arithmetic over shard record counts only.

This is the data contract between workers, so it takes ``rank`` and ``size`` as
plain arguments and touches no file: tests check it at hundreds of simulated
workers in one process.

Training, epoch ``e``, ``T`` records, ``W`` workers, batch ``B``:

- The shards are laid end to end in a seeded order, and the sequence is viewed as
  a circle that starts at a seeded record offset (both drawn from (seed, e)).
- Every worker runs ``S = T // (W * B)`` steps. Worker ``r`` reads positions
  ``[r*S*B, (r+1)*S*B)`` of the sequence, so every record is drawn at most once.
- The ``T - W*S*B`` records at the end of the sequence (fewer than ``W * B``)
  are left out of that epoch. Order and start change every epoch, so a different
  window of records is left out each time; none is left out for good.

Evaluation: the shards in stored order, cut into ``W`` contiguous slices whose
sizes differ by at most one record. Nothing is dropped.

A worker's slice is a list of :class:`Segment` (a record range inside one
shard); the reader turns each into one ``ImageRecordIter``.

HDF5 (random access, no decoding): the same plan with each shard's storage chunks
in place of whole shards, so the epoch's order is chunks in a seeded order. A
worker's slice is then read in windows of whole batches spanning a few chunks,
each window read chunk by chunk and its rows permuted; a row of a chunk read
alone costs the whole chunk (bench/hdf5_order.py).
"""
import bisect
from dataclasses import dataclass

from ..errors import UserError
from ..seeding import Stream, rng_for


@dataclass(frozen=True)
class Segment:
    shard: int
    start: int
    stop: int

    @property
    def count(self):
        return self.stop - self.start


def steps_per_epoch(total, size, batch, split="train"):
    """Steps every worker runs; a one-line error when no full batch fits a worker's share."""
    if batch < 1:
        raise UserError(f"data.batch_size must be at least 1, got {batch}")
    steps = total // (size * batch)
    if steps == 0:
        largest = total // size
        advice = (f"the largest batch that works is {largest}" if largest
                  else "use fewer workers than records")
        raise UserError(f"data.batch_size={batch} is larger than a worker's share of split '{split}' "
                        f"({total} records over {size} workers): {advice}")
    return steps


def dropped_per_epoch(total, size, batch):
    return total - size * batch * steps_per_epoch(total, size, batch)


def _starts(pieces):
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += p.count
    return starts


def cut(pieces, lo, hi):
    """The segments that cover positions ``[lo, hi)`` of ``pieces`` laid end to end."""
    starts = _starts(pieces)
    out = []
    i = max(0, bisect.bisect_right(starts, lo) - 1)
    while i < len(pieces) and starts[i] < hi:
        p, base = pieces[i], starts[i]
        a, b = max(lo, base) - base, min(hi, base + p.count) - base
        if b > a:
            out.append(Segment(p.shard, p.start + a, p.start + b))
        i += 1
    return out


def _from_seeded_offset(pieces, total, rng):
    if total == 0:
        return pieces
    offset = int(rng.integers(total))
    return cut(pieces, offset, total) + cut(pieces, 0, offset)


def epoch_sequence(counts, seed, epoch):
    """All records of a split for one epoch: shards in a seeded order, from a seeded offset."""
    rng = rng_for(seed, Stream.EPOCH_ORDER, epoch)
    pieces = [Segment(int(s), 0, counts[s]) for s in rng.permutation(len(counts)) if counts[s]]
    return _from_seeded_offset(pieces, sum(counts), rng)


def chunked_sequence(counts, chunk_rows, seed, epoch):
    """All records of a split for one epoch: every shard's chunks (``chunk_rows[s]`` records each,
    the last one shorter) in a seeded order, from a seeded offset."""
    rng = rng_for(seed, Stream.EPOCH_ORDER, epoch)
    chunks = [Segment(s, a, min(a + step, n)) for s, (n, step) in enumerate(zip(counts, chunk_rows))
              for a in range(0, n, step)]
    return _from_seeded_offset([chunks[i] for i in rng.permutation(len(chunks))], sum(counts), rng)


def _share(sequence, total, rank, size, batch, split):
    per_worker = steps_per_epoch(total, size, batch, split) * batch
    return cut(sequence, rank * per_worker, (rank + 1) * per_worker)


def train_slice(counts, rank, size, batch, seed, epoch, split="train", chunk_rows=None):
    """Worker ``rank``'s segments for training epoch ``epoch``: exactly S*B records. With
    ``chunk_rows`` (per shard), the epoch's order is chunks, not whole shards."""
    sequence = (chunked_sequence(counts, chunk_rows, seed, epoch) if chunk_rows
                else epoch_sequence(counts, seed, epoch))
    return _share(sequence, sum(counts), rank, size, batch, split)


def window_rows(batch, chunk_rows, chunks):
    """Records per shuffle window: the fewest whole batches that span ``chunks`` chunks."""
    return batch * max(1, -(-chunks * chunk_rows // batch))


def window_order(segments, window, w, seed, epoch, rank):
    """The segments of window ``w`` of a worker's slice (its positions ``[w*window, (w+1)*window)``)
    and the order their records are used in, drawn from (seed, epoch, rank, w)."""
    part = cut(segments, w * window, (w + 1) * window)
    return part, rng_for(seed, Stream.H5_ORDER, epoch, rank, w).permutation(sum(p.count for p in part))


def eval_slice(counts, rank, size):
    """Worker ``rank``'s segments of an evaluation split; all workers together read each record once."""
    total = sum(counts)
    pieces = [Segment(s, 0, n) for s, n in enumerate(counts) if n]
    return cut(pieces, rank * total // size, (rank + 1) * total // size)


def locate(segments, position):
    """``(i, within)``: record ``position`` of a slice is record ``within`` of ``segments[i]``."""
    for i, seg in enumerate(segments):
        if position < seg.count:
            return i, position
        position -= seg.count
    return len(segments), 0
