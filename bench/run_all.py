"""Run every benchmark in sequence (``make bench``); each prints its own figures and ratios.

The CIFAR-10 parts need ../shared/data/cifar10-train.tar (the packer benchmark extracts it
to a temporary directory; the Horovod scaling run packs it to one first).
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CIFAR_TAR = os.path.join(HERE, "..", "..", "shared", "data", "cifar10-train.tar")


def run(*args):
    print(f"\n$ {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, *args], check=True)


def main():
    have_cifar = os.path.isfile(CIFAR_TAR)
    run(os.path.join(HERE, "pack_vs_im2rec.py"), "--workers", "2", "--generated", "200000",
        *(["--cifar-tar", CIFAR_TAR] if have_cifar else []))
    run(os.path.join(HERE, "models_vs_gluoncv.py"))
    run(os.path.join(HERE, "recipe_costs.py"))
    if have_cifar:
        with tempfile.TemporaryDirectory() as tmp:
            import tarfile
            with tarfile.open(CIFAR_TAR) as tar:
                tar.extractall(tmp)
            shards = os.path.join(tmp, "shards")
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "mxdl-pack"), "build",
                            os.path.join(tmp, "train"), shards, "--split-sizes", "train=0.9,val=0.1", "--shards", "2"],
                           check=True)
            run(os.path.join(HERE, "trainer_vs_bare.py"))
            run(os.path.join(HERE, "scaling.py"), "--shards", shards)
            run(os.path.join(HERE, "reader_vs_imagerecorditer.py"), "--shards", shards, "--repeat", "3",
                "--many-shards", "1000")
    else:
        run(os.path.join(HERE, "trainer_vs_bare.py"))


if __name__ == "__main__":
    main()
