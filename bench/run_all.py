"""Run the benchmarks in sequence (``make bench``) and write bench/results.json: each benchmark's
command, its figures (whatever it printed through bench/common.py), the load average before and
after it, the machine and the date. README's benchmark table is generated from that file
(bench/readme_table.py), so no figure in README is older than the run that wrote it.

    python bench/run_all.py [--only recipe_costs,reader_vs_imagerecorditer]

``--only`` runs some of them and keeps the others' entries from the existing results.json. The
CIFAR-10 parts need ../shared/data/cifar10-train.tar (extracted to a temporary directory; the reader
and scaling runs read 1,000 images a class of it, packed as 4 shards as they are: SHARDS; the
ResNet-18 scaling case 200 a class resized to 64x64: SHARDS64).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CIFAR_TAR = os.path.join(REPO, "..", "shared", "data", "cifar10-train.tar")
RESULTS = os.path.join(HERE, "results.json")
LOADED = 0.25  # other work busy on more than this share of the cores marks a run as made on a loaded machine


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    import mxnet
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "mxnet": mxnet.__version__}


def busy_share(seconds=2.0):
    """The share of the CPUs busy over a moment, from /proc/stat: taken just before a benchmark
    starts, it is other work's (the load average still counts the benchmark before, for a minute)."""
    def sample():
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def run(script, *args, shards=None):
    """One benchmark in its own process; its entry for results.json (SHARDS in its command stands
    for the temporary CIFAR-10 subset run_all packs)."""
    names = dict(zip(shards or [], ("SHARDS", "SHARDS64")))   # temporary folders, named as README explains them
    command = " ".join(["python", f"bench/{script}.py",
                        *(names.get(a) or (os.path.relpath(a, REPO) if a.startswith(REPO) else a) for a in args)])
    print(f"\n$ {command}", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as record:
        busy, before, start = busy_share(), os.getloadavg(), time.time()
        subprocess.run([sys.executable, os.path.join(HERE, f"{script}.py"), *args], check=True, cwd=REPO,
                       env=dict(os.environ, MXDL_BENCH_RECORD=record.name))
        after = os.getloadavg()
        results = [json.loads(line) for line in open(record.name)]
    loaded = busy > LOADED
    if loaded:
        print(f"note: other work kept {busy:.0%} of the CPUs busy when {script} started (load average "
              f"{before[0]:.2f}): its figures are ratios from one run, not absolute rates")
    return {"script": script, "command": command, "busy_before": round(busy, 3),
            "load_before": [round(v, 2) for v in before],
            "load_after": [round(v, 2) for v in after], "loaded": loaded,
            "seconds": round(time.time() - start), "results": results}


def plan(have_cifar, shards):
    """(script, args) of every benchmark; the CIFAR-10 ones only when the tar is there."""
    steps = [("pack_vs_im2rec", ["--workers", "2", "--generated", "200000",
                                 *(["--cifar-tar", CIFAR_TAR] if have_cifar else [])]),
             ("models_vs_gluoncv", []), ("recipe_costs", []), ("trainer_vs_bare", []), ("hdf5_order", []),
             ("sync_bn", []), ("distill_digits", [])]
    if shards:
        steps += [("scaling", ["--shards", *shards, "--config", *SCALING_CONFIGS, "--epochs", "3"]),
                  ("reader_vs_imagerecorditer", ["--shards", shards[0], "--repeat", "3", "--many-shards", "1000",
                                                 "--photos", "2000"])]
    return steps


SCALING_CONFIGS = [os.path.join(REPO, "configs", name) for name in ("cifar10_minivggnet.yaml",
                                                                   "tiny_imagenet_resnet18.yaml")]


def packed_cifar(tmp):
    """The book's small-dataset case: 1,000 CIFAR-10 JPEGs a class, packed as 4 shards as they are;
    and 200 a class resized to 64x64 for the ResNet-18 scaling case."""
    with tarfile.open(CIFAR_TAR) as tar:
        tar.extractall(os.path.join(tmp, "all"))
    return [_pack_subset(tmp, "shards", 1000, ["--pass-through"]),
            _pack_subset(tmp, "shards64", 200, ["--size", "64x64"])]


def _pack_subset(tmp, name, per_class, options):
    root, subset = os.path.join(tmp, "all", "train"), os.path.join(tmp, f"{name}-images")
    for label in sorted(os.listdir(root)):
        os.makedirs(os.path.join(subset, label))
        for image in sorted(os.listdir(os.path.join(root, label)))[:per_class]:
            os.link(os.path.join(root, label, image), os.path.join(subset, label, image))
    shards = os.path.join(tmp, name)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "mxdl-pack"), "build", subset, shards,
                    "--shards", "4", *options], check=True, capture_output=True)
    return shards


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated benchmark names (bench/NAME.py)")
    args = p.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    old = json.load(open(RESULTS)) if os.path.isfile(RESULTS) and wanted else {"benchmarks": []}
    entries = {e["script"]: e for e in old["benchmarks"]}
    with tempfile.TemporaryDirectory() as tmp:
        needs_cifar = os.path.isfile(CIFAR_TAR) and (not wanted or wanted & {"scaling", "reader_vs_imagerecorditer"})
        shards = packed_cifar(tmp) if needs_cifar else None
        for script, script_args in plan(os.path.isfile(CIFAR_TAR), shards):
            if wanted is None or script in wanted:
                entries[script] = {**run(script, *script_args, shards=shards), "date": datetime.date.today().isoformat()}
    results = {"machine": machine(), "written": datetime.datetime.now().isoformat(timespec="seconds"),
               "benchmarks": list(entries.values())}
    with open(RESULTS + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(RESULTS + ".tmp", RESULTS)
    print(f"\nwrote {os.path.relpath(RESULTS, REPO)}; python bench/readme_table.py --write README.md puts it in README")


if __name__ == "__main__":
    main()
