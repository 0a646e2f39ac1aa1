"""The manifest contract: written with a schema by pack and adopt, checked by every reader."""
import json
import os
import shutil

import pytest


from mxdl.data.manifest import MANIFEST, SCHEMA, Manifest
from mxdl.errors import UserError


def test_pack_writes_the_schema_and_load_round_trips(digits_rec):
    raw = json.load(open(os.path.join(digits_rec, MANIFEST)))
    assert raw["schema"] == SCHEMA
    m = Manifest.load(digits_rec)
    assert m.to_json() == raw
    assert m.total_records == 1797 == sum(s.records for s in m.splits.values())
    assert [p[1] for p in m.shard_paths("val")] == [os.path.join(digits_rec, s.name + ".rec")
                                                    for s in m.splits["val"].shards]


def _damaged(tmp_path, digits_rec, change):
    out = str(tmp_path / "shards")
    shutil.copytree(digits_rec, out)
    path = os.path.join(out, MANIFEST)
    raw = json.load(open(path))
    text = change(raw)
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(raw))
    return out


def _drop(key):
    return lambda raw: raw.pop(key) and None


def _set(setter):
    def change(raw):
        setter(raw)
    return change


@pytest.mark.parametrize("change, message", [
    (lambda raw: "{not json", "is not valid JSON"),
    (lambda raw: "[1, 2]", "not a JSON object"),
    (_set(lambda r: r.update(schema=SCHEMA + 1)), f"manifest schema {SCHEMA + 1}, newer than this mxdl reads"),
    (_drop("classes"), "key 'classes' is missing"),
    (_set(lambda r: r.update(format="tfrecord")), "format 'tfrecord' is not one of rec, hdf5"),
    (_set(lambda r: r["splits"]["train"].update(records=5)), "its shards hold"),
    (_set(lambda r: r["splits"]["val"]["per_class"].update(ghost=3)), "counts classes not in 'classes': ghost"),
    (_set(lambda r: r["splits"]["train"]["shards"][0].pop("files")), "needs name, records, files and shapes"),
])
def test_a_damaged_manifest_is_one_clear_error_everywhere(tmp_path, digits_rec, change, message):
    from recordio_tools.inspect import summary
    from recordio_tools.verify import verify
    from mxdl.preflight import check_data
    out = _damaged(tmp_path, digits_rec, change)
    for read in (Manifest.load, verify, summary):
        with pytest.raises(UserError, match=message) as err:
            read(out)
        assert "\n" not in str(err.value)
    assert any(message.split(" ")[0] in p for p in check_data({"data": {"synthetic": False, "dir": out}}))


def test_a_manifest_from_before_the_schema_key_still_loads(tmp_path, digits_rec):
    out = _damaged(tmp_path, digits_rec, _drop("schema"))
    assert Manifest.load(out).schema == 1


def test_preflight_checks_checksums_of_small_data_by_default(tmp_path, digits_rec, monkeypatch, capsys):
    """A shard with flipped bytes but the right size passed the preflight, then aborted a worker."""
    import shutil
    from mxdl import preflight
    out = tmp_path / "shards"
    shutil.copytree(digits_rec, out)
    rec = sorted(out.glob("train-*.rec"))[0]
    with open(rec, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    cfg = {"data": {"synthetic": False, "dir": str(out)}}
    found = preflight.check_data(cfg, "auto")
    assert len(found) == 1 and f"{rec.name}: checksum differs" in found[0] and "mxdl-pack verify" in found[0]
    assert "checksums of" in capsys.readouterr().out
    assert preflight.check_data(cfg, "off") == []
    from mxdl.data import manifest
    monkeypatch.setattr(manifest, "VERIFY_AUTO_BYTES", 1000)  # as if the data were large
    assert preflight.check_data(cfg, "auto") == [] and preflight.check_data(cfg, "on") == found
