"""The non-finite guard, kept on the device: a step whose gradients hold NaN or inf changes nothing.

Per update, with no read from the device in the training loop::

    ok = all gradients finite?                  # 1.0 or 0.0, on the device
    before the update: save the weights and optimizer states, if needed
    after it: put them back when not ok
    skipped += 1 - ok; run = (run + 1) * (1 - ok); longest = max(longest, run)

Two ways to save and put back:

- CPUs (_CopyOnBadSteps): mxdl_copy_if, an operator of mxdl's own (copy_if.cc, built by setup.py),
  copies only when the flag says the step is bad. It reads the flag where MXNet's engine runs it,
  after the check and in its order, so the loop never waits; a finite step copies nothing. The
  guard costs the check and two calls: 1.64 ms, 0.8% of a MiniVGGNet step (bench/recipe_costs.py).
- GPUs, or CPUs where no compiler built it (_Rows): MXNet's own operators only, which cannot skip
  work on a value on the device. ``kept`` holds each weight and state twice over, as rows 0 and
  1; row 0 always holds the values to go on from. After the update, index_copy writes the result
  into row ``1 - ok`` (row 1 is never read) and row 0 is copied back, the same for both cases.
  These are two passes over the weights and states on every step, at the device's memory speed
  (not measured on a GPU here); on this CPU 5.7-8.8 ms, 2.6-3.7% of the step, most of it reading
  the large arrays cold after the update. Gathering the small arrays into fewer calls (7 instead
  of 88 for MiniVGGNet) cost the same inside a step, and was left out.

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

import glob
import logging
import os

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
    multi_sum_sq alone takes 2.2 ms, its CPU kernel being a plain loop (norm: 9.6 ms, sum: 15).
    Elsewhere multi_sum_sq, which accumulates float16 in float32 where a float16 dot would overflow
    at 65504."""
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


_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_copy_if")
_loaded = None


def copy_if_loaded():
    """Whether MXNet has mxdl_copy_if (copy_if.cc, built by setup.py where MXNet and a compiler were
    there), loading it at the first call. Where it is missing, or was built against another MXNet
    (whose version check refuses it), the guard says so once and uses stock operators."""
    global _loaded
    if _loaded is None:
        import mxnet as mx
        built = glob.glob(_LIBRARY + "*.so")
        _loaded, why = False, "it was not built: install mxnet, then mxdl with pip's --no-build-isolation"
        if built:
            try:
                mx.library.load(built[0], verbose=False)
                _loaded = True
            except mx.base.MXNetError as e:
                first_line = str(e).strip().splitlines()[0]
                why = f"{built[0]} did not load ({first_line}): reinstall mxdl against this MXNet"
        if not _loaded:
            logging.getLogger(__name__).warning(
                "the non-finite guard copies the weights on every step (2-4%% of a CPU step) because "
                "mxdl_copy_if is missing: %s", why)
    return _loaded


class _CopyOnBadSteps:
    """CPUs: the weights and states are saved before the update and put back after it only when
    the step is bad (mxdl_copy_if reads the flag where the engine runs it, after the check). A
    finite step copies nothing."""

    def __init__(self, targets):
        from mxnet import nd
        self.targets = targets
        self.saved = [nd.zeros(a.shape, ctx=a.context, dtype=a.dtype) for a in targets]
        # (sources, copies) per call: the calls take a bounded number of arrays, like the check's
        self._save = list(zip(_chunks(targets), _chunks(self.saved)))
        self._put_back = [(copies, sources) for sources, copies in self._save]

    def before(self, bad):
        _copy_if(bad, self._save)

    def after(self, bad):
        _copy_if(bad, self._put_back)

    def forget(self):
        pass   # nothing is kept between steps


def _copy_if(flag, calls):
    from mxnet import nd
    for sources, targets in calls:
        nd.mxdl_copy_if(flag, *sources, *targets, num_pairs=len(sources))


class _Rows:
    """GPUs, or CPUs without mxdl_copy_if: each weight and state kept twice over, as rows 0 and 1,
    with stock operators only (the module's docstring)."""

    def __init__(self, targets):
        from mxnet import nd
        self.targets = targets
        self.kept = [nd.zeros((2,) + a.shape, ctx=a.context, dtype=a.dtype) for a in targets]
        self._views = None
        self._current = False   # row 0 holds the weights and states as they are

    def before(self, bad):
        if not self._current:
            for now, kept in zip(self.targets, self.kept):
                kept[0] = now
            self._current = True

    def after(self, bad):
        from mxnet import nd
        for now, as_row, kept, first in self._rows():
            nd.contrib.index_copy(kept, bad, as_row, out=kept)
            first.copyto(now)

    def forget(self):
        self._current = False   # take the weights again at the next update

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
                           for now, kept in zip(self.targets, self.kept)]
        return self._views


class FiniteGuard:
    def __init__(self, params, trainer, limit):
        self.params, self.trainer, self.limit = params, trainer, limit
        self.carried = 0                           # skipped before a resume
        self.skipped = self.run = self.longest = 0   # host copies, as of the last poll
        self._device = None                        # [skipped, run, longest] on the device
        self._undo = None                          # _CopyOnBadSteps or _Rows, made at the first update

    # ---- per update, on the device --------------------------------------------------------------

    def update(self, images):
        """The trainer's update, undone on the device when the gradients were not all finite."""
        ok = self._all_finite()
        bad = 1 - ok
        undo = self._undo or self._make_undo()
        undo.before(bad)
        self.trainer.update(images)
        undo.after(bad)
        self._count(bad)
        return ok

    def forget(self):
        """Something besides an update may have changed the weights (a validation with the averaged
        weights, a settling of statistics, a load)."""
        if self._undo:
            self._undo.forget()

    def _make_undo(self):
        targets = [p.data() for p in self.params] + self._optimizer_states()
        on_cpu = targets[0].context.device_type == "cpu"
        self._undo = _CopyOnBadSteps(targets) if on_cpu and copy_if_loaded() else _Rows(targets)
        return self._undo

    def _all_finite(self):
        """1.0 on the device when every gradient is finite. On GPUs MXNet's multi_all_finite (AMP's
        check); its CPU kernel is serial (210 ms for MiniVGGNet's 2.2M gradients, measured), so on
        CPUs the gradients' sum of squares (about 1 ms inside a step), which is NaN or inf when an
        element is (or when one exceeds 1e19, which no trainable step survives either)."""
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
