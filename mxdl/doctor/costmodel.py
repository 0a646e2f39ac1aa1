"""How fast a data-parallel job runs, from measured inputs only: a step's compute, the allreduce
over the links, the part of the allreduce the engine hides behind the backward pass, and what the
reader delivers.

One step of one worker, all workers in lockstep::

    comm    = buffers * 2(N-1) * hop + 2(N-1)/N * gradient_bytes / bus_bandwidth     (ring allreduce)
    hidden  = overlap * min(compute, comm)
    step    = max(compute + comm - hidden, batch * workers_per_node / reader_rate_per_node)
    img/s   = N * batch / step;  efficiency = compute / step

``buffers`` is the gradient split into Horovod's fusion buffers; ``hop`` is one ring step's fixed
cost (the measured latency of a small allreduce divided by its 2(N-1) steps). Inside one node the
ring runs on the node's own link (NVLink, or memory), ``intra``; see allreduce_s for hierarchical. ``overlap`` is
measured at the job's size: the fraction of the shorter of compute and allreduce that a real step
did not pay for. Float16 allreduce halves the bytes, at the bandwidth measured for float16 (on a
fast link a CPU's float16 sums can cost more than the bytes saved). Hierarchical allreduce runs the ring over
nodes instead of workers (inside a node the reduction is assumed free beside the network).

Predictions at other sizes keep the per-worker compute, the per-node link rate and the overlap
as measured: true of a real cluster, where more nodes bring their own cores and links.
"""
import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Inputs:
    nodes: int
    workers_per_node: int
    batch: int                      # images per worker per step
    compute_s: float                # one step without the allreduce, every worker running
    gradient_bytes: int             # float32 gradients of every trained parameter
    bus_bytes_per_s: float          # per-node link, as a ring allreduce of float32 sees it
    fp16_bus_bytes_per_s: float     # the same for float16, whose sums some CPUs do slowly
    hop_s: float                    # fixed cost of one ring step
    fusion_bytes: int               # Horovod's fusion buffer
    overlap: float                  # 0..1, measured
    reader_per_node: float = math.inf   # images/s one node's readers deliver (inf: synthetic data)
    intra_bytes_per_s: float = math.inf  # float32 bus bandwidth among one node's workers (NVLink, memory)
    fp16_allreduce: bool = False
    hierarchical: bool = False

    @property
    def workers(self):
        return self.nodes * self.workers_per_node


def _ring(members, wire, bandwidth):
    """Bytes each member's link carries in a ring allreduce, over its bandwidth; and the ring's steps."""
    return 2 * (members - 1) / members * wire / bandwidth, 2 * (members - 1)


def allreduce_s(inp):
    """Seconds one step's gradients spend in the allreduce, none of it hidden. One node: a ring over
    its workers on the node's own link. Several, flat: one ring over every worker, bound by each
    node's network link (a ring enters and leaves a node once). Hierarchical: a reduce-scatter and an
    all-gather inside each node plus a ring over the nodes."""
    if inp.workers < 2:
        return 0.0
    wire = inp.gradient_bytes // 2 if inp.fp16_allreduce else inp.gradient_bytes
    inter = inp.fp16_bus_bytes_per_s if inp.fp16_allreduce else inp.bus_bytes_per_s
    intra = inp.intra_bytes_per_s * inter / inp.bus_bytes_per_s if math.isfinite(inp.bus_bytes_per_s) else math.inf
    if inp.nodes == 1:
        phases = [_ring(inp.workers_per_node, wire, intra)]
    elif inp.hierarchical:
        phases = [_ring(inp.nodes, wire, inter)] + ([_ring(inp.workers_per_node, wire, intra)]
                                                    if inp.workers_per_node > 1 else [])
    else:
        phases = [_ring(inp.workers, wire, inter)]
    buffers = max(1, math.ceil(wire / inp.fusion_bytes))
    return sum(seconds for seconds, _ in phases) + buffers * inp.hop_s * sum(steps for _, steps in phases)


def terms(inp):
    """The step's parts in seconds: compute, exposed allreduce, data wait, and the step."""
    comm = allreduce_s(inp)
    exposed = comm - inp.overlap * min(inp.compute_s, comm)
    busy = inp.compute_s + exposed
    data = inp.batch * inp.workers_per_node / inp.reader_per_node
    step = max(busy, data)
    return {"compute_s": inp.compute_s, "allreduce_s": comm, "allreduce_exposed_s": exposed,
            "data_s": data, "data_wait_s": step - busy, "step_s": step}


def bottleneck(parts):
    """What the step waits on most: 'compute', 'network' or 'data'."""
    shares = {"compute": parts["compute_s"], "network": parts["allreduce_exposed_s"], "data": parts["data_wait_s"]}
    return max(shares, key=shares.get)


def predict(inp):
    parts = terms(inp)
    rate = inp.workers * inp.batch / parts["step_s"]
    return {"workers": inp.workers, "nodes": inp.nodes, "images_per_sec": rate,
            "efficiency": inp.compute_s / parts["step_s"], "bottleneck": bottleneck(parts), **parts}


def scaling_table(inp, node_counts):
    """Predictions for each node count, this job's settings otherwise."""
    return [predict(replace(inp, nodes=n)) for n in node_counts]


def overlap_from(compute_s, comm_s, step_s):
    """The measured overlap: the share of min(compute, allreduce) that a real step hid."""
    window = min(compute_s, comm_s)
    if window <= 0:
        return 0.0
    return min(1.0, max(0.0, (compute_s + comm_s - step_s) / window))


def fit_link(ring_n, small_bytes, small_s, big_bytes, big_s):
    """(bus bytes/s, hop seconds) from two timed allreduces of one ring of ``ring_n`` members:
    ``t = 2(n-1) hop + 2(n-1)/n bytes / bw``."""
    steps = 2 * (ring_n - 1)
    per_byte = max((big_s - small_s) / (big_bytes - small_bytes), 1e-15)
    bandwidth = steps / ring_n / per_byte
    hop = max(0.0, small_s - steps / ring_n * small_bytes / bandwidth) / steps
    return bandwidth, hop
