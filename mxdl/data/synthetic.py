"""Random tensors of the configured shape: the compute-and-allreduce ceiling of a cluster.

No file is read, so throughput measured with ``data.synthetic=true`` is what the
network, the optimizer and Horovod can do; the gap to a real run is the input
pipeline's share. Batches are made once on the host and reused every step.
"""
from ..errors import UserError
from .epoch_plan import steps_per_epoch
from .manifest import Manifest, Split


class SyntheticDataset:
    def __init__(self, cfg_data, rank, size, seed):
        import mxnet as mx
        if not cfg_data["shape"]:
            raise UserError("data.synthetic needs data.shape, e.g. data.shape=[3,224,224]")
        self.shape = tuple(int(x) for x in cfg_data["shape"])
        classes = cfg_data["synthetic_classes"]
        if classes < 1:
            raise UserError(f"data.synthetic_classes must be at least 1, got {classes}")
        self.batch_size = cfg_data["batch_size"]
        self.train_count = cfg_data["synthetic_records"]
        self.steps_per_epoch = steps_per_epoch(self.train_count, size, self.batch_size, "synthetic")
        self.dropped_per_epoch = 0
        names = [str(i) for i in range(classes)]
        # The trainer reads classes, names and pixel statistics from a manifest; these are the neutral ones.
        self.manifest = Manifest("synthetic", names, names, {"synthetic": Split(self.train_count, {}, [])},
                                 [self.shape[1], self.shape[2], self.shape[0]],
                                 {"mean": [0.0] * self.shape[0], "std": [1.0] * self.shape[0]})
        from ..seeding import Stream, derive_seed
        mx.random.seed(derive_seed(seed, Stream.SYNTHETIC, rank))
        self._x = mx.nd.random.uniform(-1, 1, shape=(self.batch_size,) + self.shape)
        self._y = mx.nd.random.randint(0, classes, shape=(self.batch_size,)).astype("float32")

    def train_epoch(self, epoch, skip=0):
        for _ in range(skip, self.steps_per_epoch):
            yield self._x, self._y

    def val_batches(self, split=None):
        return iter(())
