"""Stop requests: a signal or a STOP file only sets a flag; the loop acts at a step boundary.

First SIGINT/SIGTERM/SIGUSR1: train on to the next check step (every
``train.stop_check_interval`` steps, and the epoch's last), where every worker agrees on
stopping there, write a checkpoint, exit 0. A second signal
exits at once (status 130): checkpoints are written atomically, so the last
complete one is never damaged. ``launch/train.sh`` asks for a stop by creating
``RUN/STOP`` instead of signalling, because horovodrun SIGKILLs its workers 5
seconds after forwarding a signal, which may be too soon to save a big model.
"""
import os
import signal
import sys
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
STOP_ANNOUNCED = " received: stopping at the next check step"   # after the signal's name; mxdl.joblog reads it


class StopRequest:
    def __init__(self, stop_file=None, check_every=1):
        self.requested = False
        self.reason = None
        self.requested_at = None
        self.stop_file = stop_file
        self.check_every = check_every
        self._previous = {}

    def install(self):
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.requested:
            sys.stderr.write("second stop signal: aborting now (the last checkpoint is intact)\n")
            sys.stderr.flush()
            os._exit(130)
        self.requested, self.reason, self.requested_at = True, signal.Signals(signum).name, time.time()
        sys.stderr.write(f"{self.reason}{STOP_ANNOUNCED} (every {self.check_every} "
                         "steps, train.stop_check_interval) and saving a checkpoint (press ctrl+c again to abort "
                         "without saving)\n")
        sys.stderr.flush()

    def check_local(self):
        if not self.requested and self.stop_file and os.path.exists(self.stop_file):
            self.requested, self.reason, self.requested_at = True, "STOP file", time.time()
        return self.requested

    def describe(self):
        """How the stop came and how long it took, for the log (rank 0's view: a request that reached
        another worker first shows as agreed at the check step)."""
        if self.requested_at is None:
            return "a stop asked for on another worker"
        return f"asked for by {self.reason}, saved {time.time() - self.requested_at:.1f} s later"
