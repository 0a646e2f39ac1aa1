"""Loss and top-1/top-5 counts of an epoch, kept on the device so training never waits to log."""


class Accumulator:
    def __init__(self):
        self.loss = self.top1 = self.top5 = None
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
        if self.loss is None:
            self.loss, self.top1, self.top5 = values
        else:
            self.loss, self.top1, self.top5 = (a + b for a, b in zip((self.loss, self.top1, self.top5), values))
        self.count += out.shape[0]

    def totals(self):
        """[loss sum, top-1 hits, top-5 hits, images]: the one read from the device."""
        if self.loss is None:
            return [0.0, 0.0, 0.0, 0.0]
        return [self.loss.asscalar(), self.top1.asscalar(), self.top5.asscalar(), float(self.count)]


def summarize(totals):
    """(mean loss, top-1 accuracy, top-5 accuracy) from summed totals (over workers, too)."""
    loss, top1, top5, count = totals
    count = max(count, 1.0)
    return loss / count, top1 / count, top5 / count
