"""mxdl-doctor's cost model (mxdl/doctor/costmodel.py) applied to published per-GPU figures and
interconnect bandwidths, for docs/scaling.md: ResNet-50 on V100 and A100 nodes of 8 GPUs, NVLink
inside a node, 100 or 200 Gb/s InfiniBand between nodes, flat and hierarchical allreduce, at 8, 64
and 256 GPUs, beside NVIDIA's and Horovod's published efficiencies.

    python bench/scaling_on_paper.py            # prints the markdown tables of docs/scaling.md

Every input is a named constant below, with where it comes from or that it is an assumption.
"""
import os
import sys
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mxdl.doctor.costmodel import Inputs, predict  # noqa: E402

GB = 1e9
RESNET50_PARAMS = 25_557_032          # ResNet-50 v1.5's trained parameters
# One GPU's training throughput and batch: NVIDIA DeepLearningExamples MxNet/Classification/RN50v1.5
# README (DGX-1 V100 16GB, DGX A100 80GB), with its 8-GPU weak scaling.
GPUS = {  # name: (batch per GPU, img/s on 1 GPU, bytes per gradient value, published 8-GPU speed-up)
    "V100 AMP": (192, 1376, 2, 7.79),
    "V100 FP32": (96, 384, 4, 7.82),
    "A100 AMP": (256, 2180, 2, 7.76),
    "A100 TF32": (256, 1022, 4, 7.82),
}
# Assumptions (not measured here): NCCL's all-reduce bus bandwidth inside a DGX node, one
# InfiniBand port per node of 8 GPUs at 92% of its line rate, and Horovod's 64 MiB fusion buffer
# (NVIDIA's setting). AMP trains float16 weights with float32 master copies (NVIDIA's --dtype
# float16), so its gradients travel as float16.
NVLINK = {"V100": 130 * GB, "A100": 230 * GB}
IB = {"100 Gb/s": 0.92 * 100e9 / 8, "200 Gb/s": 0.92 * 200e9 / 8}
FUSION = 64 << 20
HOP_NCCL = 10e-6      # one ring step's fixed cost under NCCL on InfiniBand (assumed)
OVERLAP = 0.0         # none of the allreduce hidden: the pessimistic end (the doctor measures it)
# Horovod PR #542, ResNet-50 FP32 img/s, hardware not given; efficiency against 8 GPUs x N/8
HOROVOD_542 = {8: (3072, 3078), 16: (6027, 5859), 64: (22346, 23166), 128: (40938, 45972), 256: (64998, 89858)}


def node_job(gpu, link, gpus, hierarchical, hop=HOP_NCCL):
    batch, rate, value_bytes, _ = GPUS[gpu]
    bus = IB[link]
    return Inputs(nodes=max(1, gpus // 8), workers_per_node=min(8, gpus), batch=batch, compute_s=batch / rate,
                  gradient_bytes=RESNET50_PARAMS * value_bytes, bus_bytes_per_s=bus, fp16_bus_bytes_per_s=bus,
                  hop_s=hop, fusion_bytes=FUSION, overlap=OVERLAP, intra_bytes_per_s=NVLINK[gpu.split()[0]],
                  hierarchical=hierarchical)


def nvidia_table():
    print("| GPU, precision | link between nodes | GPUs | flat: img/s | flat: efficiency | hierarchical: img/s "
          "| hierarchical: efficiency | NVIDIA published (8 GPUs) |")
    print("|---|---|---|---|---|---|---|---|")
    for gpu, (_, rate, _, speedup) in GPUS.items():
        for link in IB:
            for gpus in (8, 64, 256):
                flat, tiered = predict(node_job(gpu, link, gpus, False)), predict(node_job(gpu, link, gpus, True))
                published = f"{speedup / 8:.1%} ({speedup}x)" if gpus == 8 else ""
                print(f"| {gpu} | {link} | {gpus} | {flat['images_per_sec']:,.0f} | {flat['efficiency']:.1%} | "
                      f"{tiered['images_per_sec']:,.0f} | {tiered['efficiency']:.1%} | {published} |")


def implied_hop(gpus=256, efficiency=0.66):
    """The ring step's fixed cost at which the model gives Horovod's published flat efficiency."""
    lo, hi = 0.0, 1e-2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _vs_8(node_job("V100 FP32", "100 Gb/s", gpus, False, mid), mid) > efficiency:
            lo = mid
        else:
            hi = mid
    return lo


def _vs_8(job, hop):
    """Efficiency against 8 GPUs' throughput x N/8, as Horovod's PR reports it."""
    eight = predict(replace(node_job("V100 FP32", "100 Gb/s", 8, job.hierarchical, hop)))
    return predict(job)["images_per_sec"] / (eight["images_per_sec"] * job.workers / 8)


def horovod_table():
    hop = implied_hop()
    print(f"\nOne fitted input: a ring step's fixed cost of {hop * 1e6:.0f} us makes the model give Horovod's 66% "
          "(flat, 256 GPUs); every other cell follows from it.\n")
    print("| GPUs | flat: predicted | flat: Horovod #542's img/s | hierarchical: predicted | "
          "hierarchical: Horovod #542's img/s |")
    print("|---|---|---|---|---|")
    base = HOROVOD_542[8]
    for gpus, (flat_rate, tiered_rate) in HOROVOD_542.items():
        flat = _vs_8(node_job("V100 FP32", "100 Gb/s", gpus, False, hop), hop)
        tiered = _vs_8(node_job("V100 FP32", "100 Gb/s", gpus, True, hop), hop)
        print(f"| {gpus} | {flat:.0%} | {flat_rate / (base[0] * gpus / 8):.0%} | {tiered:.0%} | "
              f"{tiered_rate / (base[1] * gpus / 8):.0%} |")


if __name__ == "__main__":
    nvidia_table()
    horovod_table()
