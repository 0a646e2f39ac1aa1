"""Knowledge distillation on scikit-learn's digits: a small MLP student taught by the digits LeNet,
against the same student trained on the labels alone, in one run.

    python bench/distill_digits.py [--teacher-epochs 20] [--student-epochs 30] [--seeds 3]

It packs the digits (80/20, seed 0), trains the LeNet teacher (configs/digits.yaml), then for each
seed the student twice (configs/digits.yaml with model.name=mlp: the book's 64-32-16-10 sigmoid
network): plain, and with train.distill_from=the teacher (temperature 4, weight 0.7). Reported: the
teacher's validation accuracy, and for each student the epoch at which it first reaches 95% and
comes within 1 point of the teacher, and its best accuracy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG = os.path.join(REPO, "configs", "digits.yaml")
STUDENT = ["model.name=mlp"]
DISTILL = ["train.distill_temperature=4", "train.distill_weight=0.7"]


def tool(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def train(shards, out, epochs, *extra):
    subprocess.run([tool("mxdl-train"), CONFIG, f"data.dir={shards}", f"train.epochs={epochs}", "--output", out,
                    "--fresh", "train.log_interval=100000", "checkpoint.export=false", *extra],
                   check=True, capture_output=True)
    return [e["val_acc"] for e in json.load(open(os.path.join(out, "history.json")))["epochs"]]


def first_within(accs, target, points=0.01):
    return next((i + 1 for i, a in enumerate(accs) if a >= target - points), None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher-epochs", type=int, default=20)
    p.add_argument("--student-epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mxdl-distill-") as tmp:
        images, shards = os.path.join(tmp, "images"), os.path.join(tmp, "shards")
        subprocess.run([tool("mxdl-pack"), "digits", images], check=True, capture_output=True)
        subprocess.run([tool("mxdl-pack"), "build", images, shards, "--split-sizes", "train=0.8,val=0.2", "--png",
                        "--gray", "--shards", "2", "--seed", "0"], check=True, capture_output=True)
        teacher = os.path.join(tmp, "teacher")
        target = max(train(shards, teacher, args.teacher_epochs))
        print(f"teacher: LeNet, {args.teacher_epochs} epochs, best validation accuracy {target:.4f}")
        print("| seed | student | first epoch at 95% | epoch within 1 point of the teacher | best validation accuracy |")
        print("|---|---|---|---|---|")
        for seed in range(args.seeds):
            for name, extra in (("MLP, labels only", []), ("MLP, distilled", [f"train.distill_from={teacher}", *DISTILL])):
                accs = train(shards, os.path.join(tmp, f"s{seed}-{len(extra)}"), args.student_epochs, *STUDENT,
                             f"train.seed={seed}", *extra)
                at95 = next((i + 1 for i, a in enumerate(accs) if a >= 0.95), "never")
                print(f"| {seed} | {name} | {at95} | {first_within(accs, target) or 'never'} | {max(accs):.4f} |",
                      flush=True)


if __name__ == "__main__":
    main()
