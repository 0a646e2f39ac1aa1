"""One seeding helper: independent seeds for every (stream, epoch, shard, ...) key."""
from mxdl.seeding import Stream, derive_seed, rng_for


def test_no_two_epoch_shard_pairs_share_a_seed():
    # 90 epochs x 320 shards: the old formula seed*1000 + epoch*97 + shard repeated itself from
    # shard 97 on (epoch 0 shard 97 == epoch 1 shard 0).
    seeds = {derive_seed(0, Stream.RECORD_RANGE, epoch, shard) for epoch in range(90) for shard in range(320)}
    assert len(seeds) == 90 * 320
    assert derive_seed(0, Stream.RECORD_RANGE, 0, 97) != derive_seed(0, Stream.RECORD_RANGE, 1, 0)


def test_seeds_fit_mxnet_and_separate_streams_and_user_seeds():
    values = [derive_seed(s, stream, 3, 5) for s in range(50) for stream in
              (Stream.EPOCH_ORDER, Stream.RECORD_RANGE, Stream.SYNTHETIC, Stream.TRAIN_STEP)]
    assert len(set(values)) == len(values)
    assert all(0 <= v < 2 ** 31 for v in values)  # MXNet's seed arguments are signed 32-bit ints
    assert derive_seed(7, Stream.H5_ORDER, 2) == derive_seed(7, Stream.H5_ORDER, 2)


def test_generators_repeat_for_equal_keys_only():
    a, b, c = (rng_for(1, Stream.H5_AUGMENT, *k).integers(0, 2 ** 62, 4).tolist() for k in ((4, 2), (4, 2), (2, 4)))
    assert a == b and a != c
