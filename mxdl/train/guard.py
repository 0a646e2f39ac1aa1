"""The non-finite guard, kept on the device: a step whose gradients hold NaN or inf changes nothing.

Per update, with no read from the device::

    ok = all gradients finite?                  # 1.0 or 0.0, on the device
    update -> index_copy(kept, row 1 - ok, updated) -> updated = kept[0]
    skipped += 1 - ok; run = (run + 1) * (1 - ok); longest = max(longest, run)

``kept`` holds each weight and optimizer state twice over, as rows 0 and 1. Row 0 always holds
the values to go on from: a finite step writes its result there, a non-finite one into row 1,
which nothing reads; copying row 0 back is then the same for both. Both copies run at memcpy
speed (0.8 ms each for MiniVGGNet's 2.2M weights on this CPU, where ``where()`` takes 4.8 ms).
Two passes over the weights and states are the floor while the optimizer updates in place: one
to keep what a bad step must get back, one to put it back or not, chosen on the device.

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

# multi_all_finite takes a bounded number of arrays per call; MXNet's loss scaler uses chunks of 200
CHUNK = 200


def _chunks(arrays):
    return [arrays[i:i + CHUNK] for i in range(0, len(arrays), CHUNK)]


def sum_of_squares(arrays):
    """The sum of every element squared over all the arrays, one float32 on the device (MXNet's
    multi-tensor kernel: one call for many arrays, not a norm per array)."""
    from mxnet import nd
    parts = [nd.multi_sum_sq(*chunk, num_arrays=len(chunk)).sum() for chunk in _chunks(arrays)]
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
        self._current = False                        # row 0 holds the weights and states as they are

    # ---- per update, on the device --------------------------------------------------------------

    def update(self, images):
        """The trainer's update, undone on the device when the gradients were not all finite."""
        from mxnet import nd
        ok = self._all_finite()
        if not self._current:
            self._take_current()
        self.trainer.update(images)
        row = 1 - ok
        for now, kept in zip(self._targets, self._kept):
            # read through a reshaped view and written back whole: this also holds for weights MKLDNN
            # keeps in its own layout after an inference pass (tests/test_step.py), and saves the two
            # extra copies of every weight that expand_dims/squeeze operators made (4 of 13 ms).
            # copyto, not setitem (now[:] = ...): 1.9 against 6.4 ms for MiniVGGNet's weights and
            # momentum on one thread (setitem's slice assignment is not a plain copy).
            nd.contrib.index_copy(kept, row, now.reshape((1,) + now.shape), out=kept)
            kept[0].copyto(now)
        self._count(ok)
        return ok

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
        CPUs the gradients' sum of squares (2.5 ms), which is NaN or inf when an element is (or
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
        """The updater's states for our parameters, created now when the first update has not yet
        made them (the same call MXNet's Updater makes), so the first step can be undone too."""
        trainer = self.trainer
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        updater = trainer._updaters[0]
        states = []
        for p in self.params:
            idx = trainer._param2idx[p.name]
            if idx not in updater.states:
                updater.states[idx] = updater.optimizer.create_state_multi_precision(idx, p.data())
                updater.states_synced[idx] = True
            states += _arrays(updater.states[idx])
        return states

    def _count(self, ok):
        from mxnet import nd
        bad = 1 - ok
        if self._device is None:
            self._device = [nd.zeros((1,), ctx=ok.context) for _ in range(3)]
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
