"""Helpers shared by the benchmarks: timing and a one-line report format."""
import time


def timed(fn, repeat=1):
    """Best wall time of ``repeat`` runs of fn() (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(title, rows, baseline):
    """Print rows of (name, images/s) and each one's ratio to the baseline row."""
    base = dict(rows)[baseline]
    print(f"\n{title}")
    for name, rate in rows:
        print(f"  {name:44s} {rate:10.1f} img/s   x{rate / base:.3f} of {baseline}")
