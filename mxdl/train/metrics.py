"""Loss and top-1/top-5 counts of an epoch, kept on the device so training never waits to log."""


class Accumulator:
    """Sums over an epoch's batches. With ``skip_nonfinite`` (the non-finite guard is on), a batch
    whose loss is NaN or inf is left out of the loss: its step was skipped and changed nothing, so
    the epoch's loss is that of the steps that counted."""

    def __init__(self, skip_nonfinite=False):
        self.skip_nonfinite = skip_nonfinite
        self.sums = None          # loss, top-1 hits, top-5 hits, images the loss covers
        self.count = 0

    def add(self, out, label, loss, rows=None):
        """One batch; ``rows`` leaves out a padded last batch's filler rows."""
        import mxnet as mx
        if rows is not None and rows < out.shape[0]:
            out, label, loss = out[:rows], label[:rows], loss[:rows]
        label = label.astype("float32")
        k = min(5, out.shape[1])
        top = mx.nd.topk(out.astype("float32"), k=k, axis=1).astype("float32")
        hits = top == label.reshape((-1, 1))
        values = [loss.astype("float32").sum(), hits[:, :1].sum(), hits.sum()]
        if self.skip_nonfinite:
            finite = values[0] * 0 == 0  # NaN and inf times 0 are NaN (contrib.isfinite failed on MKLDNN output)
            values = [mx.nd.where(finite, values[0], mx.nd.zeros_like(finite))] + values[1:] + [finite * out.shape[0]]
        self.sums = values if self.sums is None else [a + b for a, b in zip(self.sums, values)]
        self.count += out.shape[0]

    def totals(self):
        """[loss sum, top-1 hits, top-5 hits, images, images the loss covers]: one read from the device."""
        if self.sums is None:
            return [0.0, 0.0, 0.0, 0.0, 0.0]
        sums = [float(v) for v in _read(self.sums)]
        covered = sums[3] if self.skip_nonfinite else float(self.count)
        return sums[:3] + [float(self.count), covered]


def _read(arrays):
    """The arrays' values in one read from the device."""
    import mxnet as mx
    return mx.nd.concat(*[a.reshape((1,)) for a in arrays], dim=0).asnumpy()


# An epoch's figures before its first step: the five totals, seconds, seconds waiting for data
# (Run._epoch_so_far in loop.py; a mid-epoch checkpoint carries its own into the resumed run)
NOTHING_CARRIED = (0.0,) * 7


def summarize(totals):
    """(mean loss, top-1 accuracy, top-5 accuracy) from summed totals (over workers, too). A loss
    that covers no image (every step skipped as non-finite) is NaN."""
    loss, top1, top5, count, covered = totals
    mean_loss = loss / covered if covered else (float("nan") if count else 0.0)
    count = max(count, 1.0)
    return mean_loss, top1 / count, top5 / count
