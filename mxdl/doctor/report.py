"""What ``mxdl-doctor`` prints and writes: the measured inputs, predictions from one worker to 4x the
job's nodes, the bottleneck, and advice, each piece of advice with the throughput the model predicts
for it. Pure functions of the model's inputs."""
import math
from dataclasses import asdict, replace

from .costmodel import predict

WORTH = 1.03   # advice must buy at least 3% by the model's own reckoning


def sizes(inp):
    """The node counts a user asks about: one worker, 1..the job's nodes, then 2x and 4x them."""
    one = [replace(inp, nodes=1, workers_per_node=1)] if inp.workers_per_node > 1 else []
    return one + [replace(inp, nodes=n) for n in sorted({*range(1, inp.nodes + 1), 2 * inp.nodes, 4 * inp.nodes})]


def scaling(inp):
    return [predict(i) for i in sizes(inp)]


def _mb(n):
    return f"{n / 1e6:,.1f} MB"


def _rate(bw):
    return "not measured (one worker)" if math.isinf(bw) else f"{bw / 1e6:,.1f} MB/s"


def measured_lines(inp, measured, figures):
    w0, lines = figures["workers"][0], []
    lines.append(("step (the trainer's, with allreduce)", f"{measured['step_s']:.3f} s"))
    lines.append(("compute (the same step, no allreduce)", f"{inp.compute_s:.3f} s"))
    lines.append(("gradients", f"{_mb(inp.gradient_bytes)} float32, {_mb(inp.gradient_bytes // 2)} as float16"))
    lines.append(("link (ring allreduce bus bandwidth)", f"{_rate(inp.bus_bytes_per_s)} float32, "
                  f"{_rate(inp.fp16_bus_bytes_per_s)} float16; {inp.hop_s * 1e3:.2f} ms per ring step"))
    lines.append(("allreduce hidden behind compute", f"{inp.overlap:.0%} of the shorter of the two"))
    if "reader" in w0:
        lines.append(("reader (the trainer's, all local workers)", f"{inp.reader_per_node:,.0f} img/s per node; "
                      f"first batch after {w0['reader']['first_batch_s']:.2f} s"))
    storage = [w["storage"]["mb_per_sec"] for w in figures["workers"] if "storage" in w]
    if storage:
        lines.append(("shard files, plain read", f"{min(storage):,.0f} MB/s (slowest node; the page cache may hold them)"))
    lines.append(("threads per worker", figures["settings"]["budget"]))
    return lines


def table_lines(rows):
    out = [f"{'workers':>7} {'nodes':>5} {'img/s':>9} {'efficiency':>10} {'step s':>7} {'compute':>7} "
           f"{'allreduce':>9} {'exposed':>7} {'data wait':>9}  bottleneck"]
    for r in rows:
        out.append(f"{r['workers']:>7} {r['nodes']:>5} {r['images_per_sec']:>9,.1f} {r['efficiency']:>10.0%} "
                   f"{r['step_s']:>7.3f} {r['compute_s']:>7.3f} {r['allreduce_s']:>9.3f} "
                   f"{r['allreduce_exposed_s']:>7.3f} {r['data_wait_s']:>9.3f}  {r['bottleneck']}")
    return out


def _gain(inp, other):
    return predict(other)["images_per_sec"] / predict(inp)["images_per_sec"]


def _option(text, inp, other):
    gain = _gain(inp, other)
    return (gain, f"{text}: {predict(other)['images_per_sec']:,.1f} img/s predicted (x{gain:.2f})")


def advice(inp):
    """Concrete changes, best first, each with its predicted effect; the bottleneck's own line last."""
    wire = inp.gradient_bytes // 2 if inp.fp16_allreduce else inp.gradient_bytes
    options = [_option(f"horovod.fp16_allreduce={'false' if inp.fp16_allreduce else 'true'}", inp,
                       replace(inp, fp16_allreduce=not inp.fp16_allreduce))]
    if wire > inp.fusion_bytes:
        mb = math.ceil(wire / 2**20)
        options.append(_option(f"horovod.fusion_threshold_mb={mb} (--fusion-threshold-mb {mb}): the gradients "
                               "in one fusion buffer", inp, replace(inp, fusion_bytes=wire)))
    if inp.workers_per_node > 1 and inp.nodes > 1 and not inp.hierarchical:
        options.append(_option("--hierarchical-allreduce", inp, replace(inp, hierarchical=True)))
    options.append(_option(f"data.batch_size={2 * inp.batch} (and optim.lr scaled with it; assumes compute "
                           "doubles with the batch)", inp, replace(inp, batch=2 * inp.batch, compute_s=2 * inp.compute_s)))
    lines = [text for gain, text in sorted(options, reverse=True) if gain >= WORTH]
    return lines + [_bottleneck_advice(inp)]


def _bottleneck_advice(inp):
    p = predict(inp)
    if p["bottleneck"] == "data":
        need = inp.batch * inp.workers_per_node / p["step_s"] * p["data_s"] / max(p["compute_s"], 1e-9)
        return (f"the readers deliver {inp.reader_per_node:,.0f} img/s per node and the step needs about "
                f"{need:,.0f}: raise data.threads, or pack smaller images (mxdl-pack build --resize)")
    if p["bottleneck"] == "network":
        return (f"the allreduce shows {p['allreduce_exposed_s']:.3f} s of each {p['step_s']:.3f} s step: a faster "
                "link, fewer bytes (float16) or more compute per byte (a larger batch) pay off")
    return "compute-bound: more workers add throughput at the efficiency above"


def as_json(inp, measured, figures, hosts):
    job = predict(inp)
    return {"hosts": hosts, "settings": figures["settings"], "measured": {**measured, "workers": figures["workers"]},
            "inputs": asdict(inp), "predicted": job, "bottleneck": job["bottleneck"], "scaling": scaling(inp),
            "alternatives": {"fp16_allreduce": predict(replace(inp, fp16_allreduce=True)),
                             "fp32_allreduce": predict(replace(inp, fp16_allreduce=False))},
            "advice": advice(inp)}
