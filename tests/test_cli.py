"""Conventions every console script keeps: help on every option, examples, exit codes, and one
line (not a traceback) when mxnet is missing."""
import argparse
import os
import subprocess
import sys

import pytest

from conftest import ENTRY_POINTS, REPO

PARSERS = ["recordio_tools.cli:build_parser", "mxdl.train.cli:build_parser", "mxdl.eval.cli:eval_parser",
           "mxdl.eval.cli:predict_parser", "mxdl.eval.cli:augment_preview_parser", "mxdl.models.cli:build_parser",
           "mxdl.eval.features:build_parser", "mxdl.eval.serve_check:build_parser"]


def _load(ref):
    module, name = ref.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


def _all_parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


@pytest.mark.parametrize("ref", PARSERS)
def test_every_option_has_help_and_every_command_examples(ref):
    for parser in _all_parsers(_load(ref)()):
        undocumented = [a.dest for a in parser._actions if not a.help]
        assert undocumented == [], f"{parser.prog}: {undocumented}"
        assert "examples:\n  mxdl-" in parser.epilog and "exit codes: 0 done" in parser.epilog, parser.prog


def test_one_flag_name_for_one_thing():
    """--output names what a command writes; --split names one split to read; --size is WxH."""
    seen = {}
    for ref in PARSERS:
        for parser in _all_parsers(_load(ref)()):
            for action in parser._actions:
                for flag in action.option_strings:
                    seen.setdefault(flag, set()).add((parser.prog, action.metavar, action.nargs))
    assert "--out" not in seen and "--splits" not in seen
    assert all(metavar in (None, "WxH") for _, metavar, _ in seen["--size"])
    assert {prog for prog, _, _ in seen["--split"]} == {"mxdl-eval", "mxdl-pack inspect", "mxdl-features extract"}


# Runs an entry point with mxnet hidden, as in an environment installed without the [cpu] extra.
BLOCK_MXNET = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "mxnet":
            raise ModuleNotFoundError("No module named 'mxnet'", name="mxnet")
sys.meta_path.insert(0, Hide())
module, name = sys.argv[1].split(":")
sys.argv = sys.argv[1:]
sys.exit(getattr(__import__(module, fromlist=[name]), name)())
"""

COMMANDS = {"mxdl-pack": ["verify", "."], "mxdl-train": ["configs/digits.yaml", "data.synthetic=true"],
            "mxdl-eval": ["runs/x", "shards/x"], "mxdl-models": ["list"], "mxdl-predict": ["runs/x", "a.png"],
            "mxdl-augment-preview": ["a.png", "--output", "g.png"], "mxdl-features": ["logreg", "feats"],
            "mxdl-export": ["runs/x"], "mxdl-runs": ["compare", "runs/x", "--output", "x.png"],
            "mxdl-serve-check": ["runs/x/export", "x.jpg"],
            "mxdl-doctor": ["configs/digits.yaml", "data.synthetic=true"]}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(set(ENTRY_POINTS) - {"mxdl-launch"}))
def test_without_mxnet_every_command_says_how_to_install_it(script, tmp_path):
    proc = subprocess.run([sys.executable, "-c", BLOCK_MXNET, ENTRY_POINTS[script], *COMMANDS[script]],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "pip install 'mxdl[cpu]'" in proc.stderr and "'mxdl[cu112]'" in proc.stderr
    helped = subprocess.run([sys.executable, "-c", BLOCK_MXNET, ENTRY_POINTS[script], "--help"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert helped.returncode == 0 and "examples:" in helped.stdout


def test_packaged_configs_are_listed_and_found_by_name(tmp_path):
    from mxdl import config
    listed = config.packaged_configs()
    assert {"digits", "cifar10_minivggnet", "imagenet_resnet50"} <= set(listed)
    assert os.path.samefile(config.locate("digits"), os.path.join(REPO, "configs", "digits.yaml"))
    os.chdir(tmp_path)  # outside the checkout, as after pip install
    try:
        assert config.locate("configs/digits.yaml") == listed["digits"][0]
        with pytest.raises(Exception, match="config file not found: digit; packaged configs like it: digits"):
            config.locate("digit")
    finally:
        os.chdir(REPO)
