"""Stop requests: a signal or a STOP file only sets a flag; the loop acts at a step boundary.

First SIGINT/SIGTERM/SIGUSR1: finish the current step, agree with every other
worker on the step to stop at, write a checkpoint, exit 0. A second signal
exits at once (status 130): checkpoints are written atomically, so the last
complete one is never damaged. ``launch/train.sh`` asks for a stop by creating
``RUN/STOP`` instead of signalling, because horovodrun SIGKILLs its workers 5
seconds after forwarding a signal, which may be too soon to save a big model.
"""
import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    def __init__(self, stop_file=None):
        self.requested = False
        self.reason = None
        self.stop_file = stop_file
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
        self.requested = True
        self.reason = signal.Signals(signum).name
        sys.stderr.write(f"{self.reason} received: stopping after this step and saving a checkpoint "
                         "(press ctrl+c again to abort without saving)\n")
        sys.stderr.flush()

    def check_local(self):
        if not self.requested and self.stop_file and os.path.exists(self.stop_file):
            self.requested, self.reason = True, "STOP file"
        return self.requested
