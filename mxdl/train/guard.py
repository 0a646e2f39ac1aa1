"""The non-finite guard, kept on the device: a step whose gradients hold NaN or inf changes nothing.

Per update, with no read from the device::

    ok = all gradients finite?                  # 1.0 or 0.0, on the device
    update -> index_copy(kept, row 1 - ok, updated) -> updated = kept[0]
    skipped += 1 - ok; run = (run + 1) * (1 - ok); longest = max(longest, run)

``kept`` holds each weight and optimizer state twice over, as rows 0 and 1. Row 0 always holds
the values to go on from: a finite step writes its result there, a non-finite one into row 1,
which nothing reads; copying row 0 back is then the same for both. Both copies run at memcpy
speed (MiniVGGNet's 2.2M weights and 2.2M momentum values: 1.3 and 1.5 ms on this CPU, where
``where()`` takes 4.8 ms). Two passes over the weights and states are the floor while the
optimizer updates in place: one to keep what a bad step must get back, one to put it back or not,
chosen on the device. What bench/recipe_costs.py measures beyond them is the check (about 1 ms
inside a step) and MXNet's cost of starting each copy, which _rows() keeps to one call per copy.
Fewer calls were tried: gathering the small arrays (biases, BatchNorm's, small convolutions) into
one flat row with amp_multicast, one index_copy and one amp_multicast back took 7 calls where
this takes 88 for MiniVGGNet, but inside a step it cost the same (5.7 against 5.6 ms over 80
alternated rounds): the large arrays' two passes, read cold after the update, are the cost.

The loop reads the three counters once per log line and at the epoch's end (``poll``): after
``limit`` skipped steps in a row it saves and stops; the skipped steps left the weights as they were.
Every worker sees the same allreduced gradients, so every worker reaches the same counts and stops
at the same read.

Why not MXNet's own pattern: AMP's loss scaler reads its overflow flag on the host every step,
which stalls the queue of work a GPU runs ahead on. Optimizer states are kept as well as the
weights because a zero gradient is not a no-op: momentum and weight decay would still move them.
The one thing a skipped step still changes is the optimizer's host-side update count (Adam's bias
correction sees one more step); reading the flag to undo it would bring the host read back.
"""

import numpy as np

# multi_all_finite and multi_sum_sq take a bounded number of arrays per call (MXNet's loss scaler
# uses chunks of 200)
CHUNK = 200
# On CPUs, a float32 array under this many elements joins one multi_sum_sq rather than taking a dot
# of its own: a call from Python costs about 20 us, which multi_sum_sq's plain loop (0.7 ns per
# element slower than a dot, measured) spends only near 30,000 elements
SMALL = 1 << 15


def _chunks(arrays):
    return [arrays[i:i + CHUNK] for i in range(0, len(arrays), CHUNK)]


def sum_of_squares(arrays):
    """The sum of every element squared over all the arrays, one float32 on the device.

    On CPUs, for float32, a BLAS dot of each large array with itself through a flat view, and one
    multi_sum_sq for the small ones. For MiniVGGNet's 2.2M gradients in 22 arrays, inside a step:
    1.1 ms, against 1.6-2.4 ms with a dot for every array (22 calls, mostly spent starting them);
    multi_sum_sq alone takes 2.2 ms, its CPU kernel being a plain loop (norm: 9.6 ms, sum: 15). Elsewhere multi_sum_sq, which accumulates float16 in float32 where a float16 dot would
    overflow at 65504."""
    from mxnet import nd
    small, parts = arrays, []
    if arrays[0].context.device_type == "cpu" and all(a.dtype == np.float32 for a in arrays):
        small = [a for a in arrays if a.size < SMALL]
        parts = [nd.dot(v, v) for v in (a.reshape((-1,)) for a in arrays if a.size >= SMALL)]
    parts += [nd.multi_sum_sq(*chunk, num_arrays=len(chunk)).sum() for chunk in _chunks(small)]
    return parts[0] if len(parts) == 1 else nd.add_n(*parts)


def _arrays(state):
    """The NDArrays inside an optimizer state (None, an array, or nested tuples of them)."""
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [a for s in state for a in _arrays(s)]
    return [state]


class FiniteGuard:
    def __init__(self, params, trainer, limit):
        self.params, self.trainer, self.limit = params, trainer, limit
        self.carried = 0                           # skipped before a resume
        self.skipped = self.run = self.longest = 0   # host copies, as of the last poll
        self._device = None                        # [skipped, run, longest] on the device
        self._targets = self._kept = None           # weights and states, and their two rows
        self._views = None                          # made by _rows()
        self._current = False                        # row 0 holds the weights and states as they are

    # ---- per update, on the device --------------------------------------------------------------

    def update(self, images):
        """The trainer's update, undone on the device when the gradients were not all finite."""
        from mxnet import nd
        ok = self._all_finite()
        if not self._current:
            self._take_current()
        self.trainer.update(images)
        bad = 1 - ok   # the row a step's result goes to
        for now, as_row, kept, first in self._rows():
            nd.contrib.index_copy(kept, bad, as_row, out=kept)
            first.copyto(now)
        self._count(bad)
        return ok

    def _rows(self):
        """Per weight or state: it, it as a row (1, ...), its two rows, and row 0.

        The views are made once, after an update has written the weights in the default layout:
        MXNet refuses a reshaped view of a weight that MKLDNN holds in its own layout after an
        inference pass, and a view made before one still reads the weights right (both checked in
        tests/test_step.py). Made once because a view is a call into MXNet: remaking four per array
        each step cost 1.6 of the guard's 5 ms for MiniVGGNet's 44 arrays. The row copies use
        reshaped views, not expand_dims/squeeze (which copy), and copyto, not setitem (``now[:] =``
        is a slice assignment, 3x slower than a plain copy)."""
        if self._views is None:
            self._views = [(now, now.reshape((1,) + now.shape), kept, kept[0])
                           for now, kept in zip(self._targets, self._kept)]
        return self._views

    def forget(self):
        """Something besides an update may have changed the weights (a validation with the averaged
        weights, a settling of statistics, a load): take them again at the next update."""
        self._current = False

    def _take_current(self):
        """The current weights and states as row 0."""
        from mxnet import nd
        if self._kept is None:
            self._targets = [p.data() for p in self.params] + self._optimizer_states()
            self._kept = [nd.zeros((2,) + a.shape, ctx=a.context, dtype=a.dtype) for a in self._targets]
        for now, kept in zip(self._targets, self._kept):
            kept[0] = now
        self._current = True

    def _all_finite(self):
        """1.0 on the device when every gradient is finite. On GPUs MXNet's multi_all_finite (AMP's
        check); its CPU kernel is serial (210 ms for MiniVGGNet's 2.2M gradients, measured), so on
        CPUs the gradients' sum of squares (about 1 ms inside a step), which is NaN or inf when an element is (or
        when one exceeds 1e19, which no trainable step survives either)."""
        from mxnet import nd
        grads = [p.grad() for p in self.params]
        if grads[0].context.device_type == "cpu":
            return sum_of_squares(grads) * 0 == 0   # NaN and inf times 0 are NaN
        ok = nd.ones((1,), ctx=grads[0].context)
        for chunk in _chunks(grads):
            nd.multi_all_finite(*chunk, num_arrays=len(chunk), init_output=False, out=ok)
        return ok

    def _optimizer_states(self):
        """The updater's states for our parameters, as its next update will use them: created now
        when no update has made them yet (so the first step can be undone too), and moved to the
        weights' device now when they were loaded elsewhere (a checkpoint loads them on the CPU).
        MXNet's Updater does both at its first call, with the same calls; the move makes new
        arrays, so a guard that took the states before it would keep the CPU copies, and a resumed
        GPU run's first bad step would leave NaN in the momentum."""
        trainer = self.trainer
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        updater = trainer._updaters[0]
        states = []
        for p in self.params:
            idx = trainer._param2idx[p.name]
            if idx not in updater.states:
                updater.states[idx] = updater.optimizer.create_state_multi_precision(idx, p.data())
            elif not updater.states_synced.get(idx, True):
                updater.states[idx] = updater.sync_state_context(updater.states[idx], p.data().context)
            updater.states_synced[idx] = True
            states += _arrays(updater.states[idx])
        return states

    def _count(self, bad):
        from mxnet import nd
        if self._device is None:
            self._device = [nd.zeros((1,), ctx=bad.context) for _ in range(3)]
        skipped, run, longest = self._device
        run = (run + 1) * bad
        self._device = [skipped + bad, run, nd.maximum(longest, run)]

    # ---- on the host, at a log line or the epoch's end --------------------------------------------

    def poll(self):
        """Read the counters (one read from the device); True once ``limit`` steps in a row were
        skipped (the run stops at the first poll that sees it)."""
        from mxnet import nd
        if self._device is None:
            return False
        skipped, run, longest = (int(v) for v in nd.concat(*self._device, dim=0).asnumpy())
        self.skipped, self.run, self.longest = self.carried + skipped, run, longest
        return longest >= self.limit
