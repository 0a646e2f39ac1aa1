import os
import re

import pytest
import yaml

from mxdl import config
from mxdl.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return str(path)


def test_layers_defaults_yaml_then_overrides(tmp_path):
    path = write(tmp_path, "model: {name: lenet}\ndata: {dir: d, batch_size: 16}\noptim: {lr: 0.5}\n")
    cfg = config.resolve(path, ["optim.lr=0.1", "schedule.milestones=[30, 60]", "data.rand_mirror=true"])
    assert cfg["data"]["batch_size"] == 16          # from YAML
    assert cfg["optim"]["lr"] == 0.1                # override beats YAML
    assert cfg["schedule"]["milestones"] == [30, 60]
    assert cfg["data"]["rand_mirror"] is True
    assert cfg["optim"]["momentum"] == 0.9          # documented default
    assert "optim.lr: 0.01 -> 0.1" in config.diff_from_defaults(cfg)


def test_int_is_accepted_for_float_keys(tmp_path):
    cfg = config.resolve(write(tmp_path, "model: {name: x}\ndata: {dir: d}\n"), ["optim.lr=1"])
    assert cfg["optim"]["lr"] == 1.0 and isinstance(cfg["optim"]["lr"], float)


def test_unknown_key_names_nearest(tmp_path):
    path = write(tmp_path, "model: {name: x}\ndata: {dir: d}\n")
    with pytest.raises(UserError, match=r"unknown config key 'optim.lrr' \(did you mean 'optim.lr'\?\)"):
        config.resolve(path, ["optim.lrr=0.1"])


def test_unknown_key_in_yaml(tmp_path):
    with pytest.raises(UserError, match="'data.batchsize'.*data.batch_size"):
        config.resolve(write(tmp_path, "model: {name: x}\ndata: {dir: d, batchsize: 3}\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(UserError, match="unknown config key 'optimizer"):
        config.resolve(write(tmp_path, "model: {name: x}\ndata: {dir: d}\noptimizer: {lr: 1}\n"))


def test_wrong_type_names_key(tmp_path):
    path = write(tmp_path, "model: {name: x}\ndata: {dir: d}\n")
    with pytest.raises(UserError, match="'data.batch_size' must be int, got 'big'"):
        config.resolve(path, ["data.batch_size=big"])
    with pytest.raises(UserError, match="'train.hybridize' must be bool"):
        config.resolve(path, ["train.hybridize=3"])


def test_choices_enforced(tmp_path):
    path = write(tmp_path, "model: {name: x}\ndata: {dir: d}\n")
    with pytest.raises(UserError, match="'schedule.name' must be one of"):
        config.resolve(path, ["schedule.name=cosine-ish"])


def test_missing_required(tmp_path):
    with pytest.raises(UserError, match="config key 'model.name' is required"):
        config.resolve(write(tmp_path, "data: {dir: x}\n"))
    from mxdl.data import open_dataset
    cfg = config.resolve(write(tmp_path, "model: {name: x}\n"))
    with pytest.raises(UserError, match="config key 'data.dir' is required.*or data.synthetic=true"):
        open_dataset(cfg)


def test_override_syntax_error():
    with pytest.raises(UserError, match="must look like key=value"):
        config.parse_override("optim.lr")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        config.resolve(str(tmp_path / "nope.yaml"))
    with pytest.raises(UserError, match="not valid YAML"):
        config.resolve(write(tmp_path, "model: [unclosed\n"))


def test_dump_round_trips(tmp_path):
    cfg = config.resolve(write(tmp_path, "model: {name: x}\ndata: {dir: d}\n"), ["optim.lr=0.3"])
    out = tmp_path / "config.yaml"
    config.dump(cfg, str(out))
    assert yaml.safe_load(out.read_text()) == cfg
    assert config.resolve(str(out)) == cfg


def test_every_shipped_config_resolves():
    import glob
    import os
    paths = glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.yaml"))
    assert paths
    for path in paths:
        cfg = config.resolve(path)
        from mxdl.models import list_models
        assert cfg["model"]["name"] in list_models(), path


def test_exponent_notation_is_a_number():
    cfg = config.resolve(None, ["model.name=lenet", "optim.lr=1e-4", "optim.wd=5e-4"])
    assert cfg["optim"]["lr"] == 1e-4 and cfg["optim"]["wd"] == 5e-4


def test_numbers_read_as_yaml_users_write_them():
    """PyYAML (YAML 1.1) reads 1e-4 as a string and 3:6 as the base-60 number 186."""
    from mxdl.config import parse_override, resolve
    assert [parse_override(f"optim.lr={v}")[1] for v in ("1e-4", "1E-4", ".5", "-2.5e3", "3")] == \
        [1e-4, 1e-4, 0.5, -2500.0, 3]
    assert parse_override("train.profile_steps=3:6")[1] == "3:6"
    cfg = resolve(None, ["model.name=lenet", "optim.lr=1E-4", "train.label_smoothing=.1"])
    assert cfg["optim"]["lr"] == 1e-4 and cfg["train"]["label_smoothing"] == 0.1


@pytest.mark.parametrize("written", ["3x64x48", "3,64,48", "[3,64,48]", "[3, 64, 48]", "3X64X48"])
def test_a_shape_is_taken_as_users_write_it(written):
    assert config.resolve(None, ["model.name=lenet", "data.dir=x", f"data.shape={written}"])["data"]["shape"] == [3, 64, 48]


# ---- _base_: configs built on others ----------------------------------------------------------

def test_the_shipped_configs_resolve_to_the_values_they_had_before_they_shared_bases():
    """configs/imagenet_* and cifar10_* now name base/*.yaml; tests/config_snapshots.json holds what
    each resolved to when it spelled every key out."""
    import json
    from conftest import REPO
    snapshots = json.load(open(os.path.join(REPO, "tests", "config_snapshots.json")))
    assert len(snapshots) == 12
    defaults = config.defaults()
    for name, before in snapshots.items():
        text = open(os.path.join(REPO, "configs", f"{name}.yaml")).read()
        assert "_base_:" in text, name
        now = json.loads(json.dumps(config.resolve(os.path.join(REPO, "configs", f"{name}.yaml"))))
        for section, keys in now.items():   # a key added to mxdl since the snapshot sits at its default
            for key, value in keys.items():
                assert value == before.get(section, {}).get(key, defaults[section][key]), (name, section, key)


def _write(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_bases_merge_depth_first_in_order_and_the_file_wins(tmp_path):
    _write(tmp_path, "a.yaml", "model: {name: lenet, options: {dropout: 0.1}}\ndata: {batch_size: 8, scale: 0.5}\n")
    _write(tmp_path, "b.yaml", "_base_: a.yaml\ndata: {batch_size: 16}\noptim: {lr: 0.2}\n")
    _write(tmp_path, "c.yaml", "data: {batch_size: 32, pad: 2}\n")
    top = _write(tmp_path, "top.yaml", "_base_: [b.yaml, c.yaml]\ndata: {dir: here}\noptim: {lr: 0.3}\n")
    cfg = config.resolve(top, ["data.pad=4"])
    assert cfg["data"]["batch_size"] == 32          # c (listed later) over b over a
    assert cfg["data"]["scale"] == 0.5 and cfg["model"]["options"] == {"dropout": 0.1}   # from a, through b
    assert cfg["optim"]["lr"] == 0.3 and cfg["data"]["dir"] == "here"   # the file's own keys win
    assert cfg["data"]["pad"] == 4                   # and overrides win over everything
    # the resolved config, as RUN/config.yaml holds it, needs no base to be read again
    config.dump(cfg, str(tmp_path / "run.yaml"))
    assert "_base_" not in open(tmp_path / "run.yaml").read()
    assert config.load_resolved(str(tmp_path / "run.yaml")) == cfg


def test_a_base_may_be_a_packaged_config(tmp_path):
    top = _write(tmp_path, "mine.yaml", "_base_: digits\ntrain: {epochs: 3}\n")
    cfg = config.resolve(top)
    assert cfg["model"]["name"] == "lenet" and cfg["train"]["epochs"] == 3


@pytest.mark.parametrize("files, message", [
    ({"x.yaml": "_base_: y.yaml\nmodel: {name: lenet}\n", "y.yaml": "_base_: x.yaml\n"},
     "config files name each other as _base_: x.yaml -> y.yaml -> x.yaml"),
    ({"x.yaml": "_base_: x.yaml\n"}, "config files name each other as _base_: x.yaml -> x.yaml"),
    ({"x.yaml": "_base_: nowhere.yaml\nmodel: {name: lenet}\n"}, "_base_ nowhere.yaml not found (looked beside it"),
    ({"x.yaml": "_base_: {a: 1}\n"}, "_base_ takes a config file or a list of them"),
])
def test_base_cycles_and_missing_bases_are_one_line(tmp_path, files, message):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(UserError, match=re.escape(message)):
        config.resolve(str(tmp_path / "x.yaml"))
