"""The cost model's inputs from the probe's figures (mxdl/doctor/probe.py): every worker's, reduced
the way a job in lockstep feels them (the slowest worker's step, the slowest node's reader).

Measured on one node, the link is that node's own (loopback or NVLink): the rows for more nodes
then assume it between nodes too, and the report says so. Measured across nodes, the link is the
network's and the workers inside a node are taken to reduce at no cost beside it."""
import math
from collections import Counter
from dataclasses import replace

from .costmodel import Inputs, allreduce_s, fit_link, overlap_from


def layout_of(workers):
    """(nodes, workers per node) from the hosts the workers ran on."""
    per_host = Counter(w["host"] for w in workers)
    return len(per_host), max(per_host.values())


def reader_per_node(workers):
    """Images/s of the slowest node's readers together (inf on synthetic data)."""
    rates = Counter()
    for w in workers:
        if "reader" in w:
            rates[w["host"]] += w["reader"]["images_per_sec"]
    return min(rates.values()) if rates else float("inf")


def link_of(workers, ring_n):
    """(fp32 bus bytes/s, fp16 bus bytes/s, hop seconds) from rank 0's timed allreduces; a single
    worker has no link (an infinite one costs nothing)."""
    figures = workers[0]["allreduce"]
    if not figures:
        return float("inf"), float("inf"), 0.0
    small = (figures["small_bytes"], figures["small_s"])
    fp32, hop = fit_link(ring_n, *small, figures["fp32_bytes"], figures["fp32_s"])
    fp16, _ = fit_link(ring_n, *small, figures["fp16_bytes"], figures["fp16_s"])
    return fp32, fp16, hop


def build(figures):
    """``(Inputs, measured)``: the model's inputs and the measured step they should explain."""
    settings, workers = figures["settings"], figures["workers"]
    nodes, per_node = layout_of(workers)
    ring_n = nodes if settings["hierarchical"] else nodes * per_node
    fp32_bw, fp16_bw, hop = link_of(workers, ring_n)
    compute = max(w["compute_s"] for w in workers)
    step = max(w["step_s"] for w in workers)
    inp = Inputs(nodes=nodes, workers_per_node=per_node, batch=settings["batch"], compute_s=compute,
                 gradient_bytes=workers[0]["gradient_bytes"], bus_bytes_per_s=fp32_bw, fp16_bus_bytes_per_s=fp16_bw,
                 hop_s=hop, fusion_bytes=settings["fusion_bytes"], overlap=0.0,
                 reader_per_node=reader_per_node(workers), intra_bytes_per_s=fp32_bw if nodes == 1 else math.inf,
                 fp16_allreduce=settings["fp16_allreduce"],
                 hierarchical=settings["hierarchical"])
    inp = replace(inp, overlap=overlap_from(compute, allreduce_s(inp), step))
    return inp, {"step_s": step, "compute_s": compute}
