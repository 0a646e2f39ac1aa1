"""Forward+backward images/s of mxdl's models next to gluoncv's definition of the same network.

Same batch, same input, both hybridized, on this machine's CPU; the best of
--repeat timings each, measured alternately so both see the same machine state.
A ratio below 0.95 for the same architecture is a bug to find.

    python bench/models_vs_gluoncv.py [--batch 4] [--iters 3] [--only resnet50_v1,vgg16]
"""
import argparse
import os
import sys
import time

import mxnet as mx
from gluoncv.model_zoo import get_model as gluoncv_model
from mxnet import autograd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import figure  # noqa: E402
from mxdl.models import get_model  # noqa: E402

# (mxdl name, gluoncv name, input C,H,W); each pair has the same parameter count (tests/test_models.py)
PAIRS = [
    ("resnet18_v1", "resnet18_v1", (3, 224, 224)),
    ("resnet50_v1", "resnet50_v1", (3, 224, 224)),
    ("resnet50_v1b", "resnet50_v1b", (3, 224, 224)),
    ("resnet50_v2", "resnet50_v2", (3, 224, 224)),
    ("squeezenet1_0", "squeezenet1.0", (3, 224, 224)),
    ("squeezenet1_1", "squeezenet1.1", (3, 224, 224)),
    ("alexnet", "alexnet", (3, 224, 224)),
    ("googlenet", "googlenet", (3, 224, 224)),
    ("vgg16", "vgg16", (3, 224, 224)),
]


def build(net):
    net.initialize(mx.init.Xavier())
    net.hybridize()
    return net


def step_time(net, x, iters):
    start = time.perf_counter()
    for _ in range(iters):
        with autograd.record():
            out = net(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
        out.backward()
    mx.nd.waitall()
    return (time.perf_counter() - start) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--only", help="comma-separated mxdl names")
    args = p.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    print(f"forward+backward, batch {args.batch}, best of {args.repeat} x {args.iters} iterations, CPU")
    print(f"  {'model':15s} {'mxdl img/s':>11s} {'gluoncv img/s':>14s}  ratio (mxdl / gluoncv)")
    ratios = {}
    for ours_name, theirs_name, shape in PAIRS:
        if wanted and ours_name not in wanted:
            continue
        x = mx.nd.random.uniform(shape=(args.batch,) + shape)
        ours, theirs = build(get_model(ours_name)), build(gluoncv_model(theirs_name))
        step_time(ours, x, 1)
        step_time(theirs, x, 1)  # warm-up: graph build and memory allocation
        best = {"ours": float("inf"), "theirs": float("inf")}
        for _ in range(args.repeat):
            best["ours"] = min(best["ours"], step_time(ours, x, args.iters))
            best["theirs"] = min(best["theirs"], step_time(theirs, x, args.iters))
        r_ours, r_theirs = args.batch / best["ours"], args.batch / best["theirs"]
        flag = "" if r_ours / r_theirs >= 0.95 else "   <-- below 0.95"
        print(f"  {ours_name:15s} {r_ours:11.1f} {r_theirs:14.1f}  {r_ours / r_theirs:.3f}{flag}", flush=True)
        ratios[ours_name] = round(r_ours / r_theirs, 3)
    figure(f"forward+backward, batch {args.batch}: mxdl's network over gluoncv's definition of the same one",
           ", ".join(f"{name} x{r:.2f}" for name, r in ratios.items()), **ratios)


if __name__ == "__main__":
    main()
