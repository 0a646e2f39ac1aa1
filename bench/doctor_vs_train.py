"""mxdl-doctor's predictions against training through launch/train.sh, on the emulated cluster
(scripts/netns_cluster.sh: nodes as network namespaces, links shaped with tbf). For each node
count, link rate and model, in one run: the doctor once (float32 allreduce; it predicts float32
and float16), then training with float32 and with float16 allreduce.

    sudo python bench/doctor_vs_train.py [--nodes 2,3] [--rates 50mbit,200mbit,1gbit]
                                         [--models minivggnet,resnet18] [--json FILE]

Measured training img/s is history.json's, over the epochs after the first (the device's work
finished before each epoch's clock is read), summed over the workers. Synthetic data, so the
figures are compute and network; the emulated nodes share this machine's cores, which the doctor
measures as the job runs (every worker at once). Needs root (network namespaces, tc).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLUSTER = os.path.join(REPO, "scripts", "netns_cluster.sh")
MODELS = {  # config, overrides, steps per epoch per worker
    "minivggnet": ("cifar10_minivggnet.yaml", ["data.shape=[3,32,32]", "data.synthetic_classes=10"], 10),
    "resnet18": ("tiny_imagenet_resnet18.yaml", ["data.synthetic_classes=200"], 4),
}


def model_args(model, nodes):
    config, extra, steps = MODELS[model]
    from mxdl.config import resolve
    batch = resolve(os.path.join(REPO, "configs", config))["data"]["batch_size"]
    return os.path.join(REPO, "configs", config), ["data.synthetic=true", *extra,
                                                   f"data.synthetic_records={batch * nodes * steps}"]


def on_head(state, cmd, **kw):
    path = os.pathsep.join([os.path.join(state, "bin"), os.path.dirname(sys.executable), os.environ["PATH"]])
    return subprocess.run(["ip", "netns", "exec", "mxdl-n0", "env", f"PATH={path}", *cmd], cwd=REPO, **kw)


def hosts(nodes):
    return ",".join(f"10.233.0.{n}:1" for n in range(1, nodes + 1))


def doctor(state, nodes, config, overrides):
    out = tempfile.mktemp(suffix=".json")
    on_head(state, [sys.executable, "-m", "mxdl.doctor.cli", config, *overrides, "--hosts", hosts(nodes),
                    "--json", out], check=True, capture_output=True)
    return json.load(open(out))


def train(state, nodes, config, overrides, epochs):
    run = tempfile.mkdtemp(prefix="mxdl-dvt-")
    on_head(state, [os.path.join(REPO, "launch", "train.sh"), config, "--hosts", hosts(nodes), "--output", run,
                    "--fresh", f"train.epochs={epochs}", "checkpoint.export=false", "train.log_interval=1000000",
                    *overrides], check=True, capture_output=True)
    later = json.load(open(os.path.join(run, "history.json")))["epochs"][1:]
    return sum(e["images_per_sec"] for e in later) / len(later)


def link_mbit(state, rate):
    out = subprocess.run([CLUSTER, "rate", state, rate], check=True, capture_output=True, text=True).stdout
    return float(out.split("measured ")[1].split()[0])


def one_case(state, nodes, rate, model, epochs):
    config, overrides = model_args(model, nodes)
    mbit = link_mbit(state, rate)
    t0 = time.time()
    report = doctor(state, nodes, config, overrides)
    doctor_s = time.time() - t0
    fp32 = train(state, nodes, config, overrides, epochs)
    fp16 = train(state, nodes, config, overrides + ["horovod.fp16_allreduce=true"], epochs)
    return {"nodes": nodes, "rate": rate, "link_mbit": mbit, "model": model, "doctor_seconds": doctor_s,
            "bottleneck": report["bottleneck"], "overlap": report["inputs"]["overlap"],
            "predicted_fp32": report["alternatives"]["fp32_allreduce"]["images_per_sec"],
            "predicted_fp16": report["alternatives"]["fp16_allreduce"]["images_per_sec"],
            "measured_fp32": fp32, "measured_fp16": fp16,
            "ignoring_network": report["inputs"]["batch"] * nodes / report["inputs"]["compute_s"],
            "inputs": report["inputs"], "doctor_step_s": report["measured"]["step_s"]}


def print_row(r):
    err32 = r["predicted_fp32"] / r["measured_fp32"] - 1
    err16 = r["predicted_fp16"] / r["measured_fp16"] - 1
    print(f"| {r['nodes']} | {r['rate']} ({r['link_mbit']:.0f}) | {r['model']} | {r['predicted_fp32']:.1f} | "
          f"{r['measured_fp32']:.1f} | {err32:+.0%} | {r['predicted_fp16']:.1f} | {r['measured_fp16']:.1f} | "
          f"{err16:+.0%} | x{r['predicted_fp16'] / r['predicted_fp32']:.2f} | x{r['measured_fp16'] / r['measured_fp32']:.2f} "
          f"| {r['bottleneck']} | {r['doctor_seconds']:.0f} s |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="2,3")
    p.add_argument("--rates", default="50mbit,200mbit,1gbit")
    p.add_argument("--models", default="minivggnet,resnet18")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/doctor_vs_train.py needs root: it builds network namespaces and shapes links with tc")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| nodes | link (measured Mbit/s) | model | predicted fp32 | measured fp32 | error | predicted fp16 | "
          "measured fp16 | error | fp16 speed-up predicted | measured | bottleneck | doctor took |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mxdl-cluster-") as state:
        try:
            for nodes in map(int, args.nodes.split(",")):
                subprocess.run([CLUSTER, "up", state, "--nodes", str(nodes)], check=True, capture_output=True)
                for rate in args.rates.split(","):
                    for model in args.models.split(","):
                        rows.append(one_case(state, nodes, rate, model, args.epochs))
                        print_row(rows[-1])
        finally:
            subprocess.run([CLUSTER, "down", state], capture_output=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv)}, f, indent=1)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    main()
