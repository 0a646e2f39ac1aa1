"""Batches made on threads of their own, a few ahead of the trainer (the HDF5 reader's).

Why: the trainer's thread only queues work on the device, so it should never block on input,
and the HDF5 reader reads and augments in numpy. Here the items are drawn on one thread,
optionally prepared on a pool, and handed over in order through a bounded queue, so the trainer
waits only when input is slower than training. Only numpy runs on these threads: the RecordIO
reader drawn this way (ImageRecordIter's next() on a thread of its own) once aborted a test
process, so it stays on the trainer's thread.
"""
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Full, Queue


def _done(value):
    future = Future()
    future.set_result(value)
    return future


def _failed(err):
    future = Future()
    future.set_exception(err)
    return future


def made_ahead(items, prepare=None, threads=1, depth=None):
    """``prepare(*item)`` (or the item itself) for each of ``items``, in order.

    ``items`` is iterated on a thread of its own; ``prepare`` runs on ``threads`` threads. At most
    ``depth`` results (default ``threads + 2``) wait in the queue, plus one in the drawing thread's
    hands: a source that reuses its buffers must keep more than ``depth + 1`` of them. An error on
    either side is raised to the consumer; closing the generator stops both."""
    depth = depth or threads + 2
    pool = ThreadPoolExecutor(threads, thread_name_prefix="mxdl-prepare") if prepare else None
    queue, stop = Queue(depth), threading.Event()

    def put(future):
        while not stop.is_set():
            try:
                return queue.put(future, timeout=0.1)
            except Full:
                continue

    def draw():
        try:
            for item in items:
                put(pool.submit(prepare, *item) if pool else _done(item))
                if stop.is_set():
                    return
        except BaseException as err:  # raised again in the consumer, where the trainer handles it
            put(_failed(err))
        finally:
            getattr(items, "close", lambda: None)()  # a generator's own clean-up runs here, not at GC
        put(None)

    drawer = threading.Thread(target=draw, name="mxdl-draw", daemon=True)
    drawer.start()
    try:
        while (future := queue.get()) is not None:
            yield future.result()
    finally:
        stop.set()
        drawer.join()
        if pool:
            pool.shutdown(cancel_futures=True)
