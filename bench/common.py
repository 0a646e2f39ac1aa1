"""The benchmarks' shared report format."""


def report(title, rows, baseline):
    """Print rows of (name, images/s) and each one's ratio to the baseline row."""
    base = dict(rows)[baseline]
    print(f"\n{title}")
    for name, rate in rows:
        print(f"  {name:44s} {rate:10.1f} img/s   x{rate / base:.3f} of {baseline}")
