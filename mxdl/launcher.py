"""``mxdl-launch``: ``launch/train.sh`` for an installed mxdl, with the same arguments.

The script ships inside the package; this entry point puts the environment's
``bin`` (its python and horovodrun) first on PATH, so an unactivated venv works.

    mxdl-launch digits --np 2 data.dir=shards/digits
    mxdl-launch my_experiment.yaml --hosts node1:4,node2:4 --resume
"""
import os
import sys


def main(argv=None):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch", "train.sh")
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "MXDL_LAUNCHER": "mxdl-launch"}
    args = sys.argv[1:] if argv is None else list(argv)
    os.execvpe("bash", ["bash", script, *args], env)
