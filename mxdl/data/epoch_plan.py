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


def epoch_sequence(counts, seed, epoch):
    """All records of a split for one epoch: shards in a seeded order, from a seeded offset."""
    rng = rng_for(seed, Stream.EPOCH_ORDER, epoch)
    pieces = [Segment(int(s), 0, counts[s]) for s in rng.permutation(len(counts)) if counts[s]]
    total = sum(counts)
    if total == 0:
        return pieces
    offset = int(rng.integers(total))
    return cut(pieces, offset, total) + cut(pieces, 0, offset)


def train_slice(counts, rank, size, batch, seed, epoch, split="train"):
    """Worker ``rank``'s segments for training epoch ``epoch``: exactly S*B records."""
    per_worker = steps_per_epoch(sum(counts), size, batch, split) * batch
    return cut(epoch_sequence(counts, seed, epoch), rank * per_worker, (rank + 1) * per_worker)


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
