"""Retraining from the event log: logged interactions join the base data; the new version serves them."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import shutil

import numpy as np
import pytest

from shortlist.core import persistence
from shortlist.errors import ConfigError, ModelFileError
from shortlist.online import retrain
from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.retrain import merge_events, read_retrain_report, retrain_from_log
from tests.serving.helpers import train_tiny


def _ev(i, user, item, type_="click", value=None):
    return LoggedEvent(event_id=i, user_id=str(user), item_id=None if item is None else str(item), type=type_,
                       timestamp=1_700_000_000.0, value=value)


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("retrain") / "v1")


def test_merge_events_appends_interactions(v1, tmp_path):
    from shortlist.data.dataset import Dataset

    base = Dataset.load(v1 / "data")
    with EventLog(tmp_path / "ev.sqlite") as log:
        log.append([_ev("1", 3, 25), _ev("2", 100, 4), _ev("3", 100, 5, value=0.5), _ev("4", 3, 26, "impression"),
                    _ev("5", 3, 999), _ev("6", "abc", 4), _ev("7", 3, None, "reward")])
        data, stats = merge_events(base, log)
    it, b = data.interactions, base.interactions
    assert stats == {"log_events": 3, "skipped_unknown_items": 1, "skipped_types": 2, "skipped_invalid": 1,
                     "last_seq": stats["last_seq"], "new_users": 1}
    assert it.n_events == b.n_events + 3 and it.n_users == b.n_users + 1 and it.n_items == b.n_items
    m = it.matrix
    u_new = int(it.users.index([100])[0])
    assert u_new == b.n_users  # new users are appended; existing indices unchanged
    # raw values: the event's own, else the base data's strongest; the base weighting (binary) then applies
    assert it.value[b.n_events:].tolist() == [b.value.max(), b.value.max(), 0.5]
    assert m[3, 25] == 1 and m[u_new, 4] == 1 and m[u_new, 5] == 1
    # the base cells are untouched
    diff = m[: b.n_users] - b.matrix
    assert set(zip(*diff.nonzero())) == {(3, 25)}


def test_retrain_builds_a_loadable_new_version(v1, tmp_path):
    from shortlist.pipeline import Pipeline

    db = tmp_path / "ev.sqlite"
    with EventLog(db) as log:
        log.append([_ev(str(i), 100, i) for i in (20, 21, 22)])
    out = tmp_path / "v2"
    report = retrain_from_log(db, v1, out)
    assert report.log_events == 3 and report.new_users == 1 and (out / "retrain.json").exists()
    p = Pipeline.load(out)
    rec = p.recommend(p.make_request(100, k=5))
    assert p.make_request(100).known_user and not {20, 21, 22} & set(rec.item_ids)
    assert np.mean([i >= 15 for i in rec.item_ids]) >= 0.6  # learned from the logged community
    with pytest.raises(ConfigError, match="already exists"):
        retrain_from_log(db, v1, out)
    with pytest.raises(ConfigError, match="must differ"):
        retrain_from_log(db, v1, v1)


@pytest.fixture(scope="module")
def v2(v1, tmp_path_factory):
    """A retrained version folder (three logged clicks of a new user) and its report."""
    folder = tmp_path_factory.mktemp("retrained")
    db = folder / "ev.sqlite"
    with EventLog(db) as log:
        log.append([_ev(str(i), 100, i) for i in (20, 21, 22)])
    return folder / "v2", retrain_from_log(db, v1, folder / "v2")


def test_the_report_is_a_checksummed_file_of_the_version(v2):
    out, report = v2
    on_disk = (out / "retrain.json").read_bytes()
    assert json.loads(on_disk) == report.to_dict() == read_retrain_report(out)
    assert report.to_dict()["out"] == str(out) and report.base_events > 0 and report.seconds > 0
    manifest = json.loads((out / "pipeline.json").read_text())
    assert manifest["files"]["retrain.json"] == hashlib.sha256(on_disk).hexdigest()
    assert manifest["blobs"]["retrain.json"] == "text"


def test_a_corrupted_report_is_named_when_the_version_loads(v2, tmp_path):
    from shortlist.pipeline import Pipeline

    copy = tmp_path / "v2"
    shutil.copytree(v2[0], copy)
    raw = bytearray((copy / "retrain.json").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (copy / "retrain.json").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=r"retrain\.json is corrupted \(checksum mismatch"):
        Pipeline.load(copy)
    with pytest.raises(ModelFileError, match=r"retrain\.json is corrupted \(checksum mismatch"):
        read_retrain_report(copy)
    (copy / "retrain.json").unlink()
    with pytest.raises(ModelFileError, match=r"retrain\.json is missing from a saved folder"):
        Pipeline.load(copy)


def test_a_version_without_a_report_says_so(v1):
    with pytest.raises(ModelFileError, match=r"holds no 'retrain\.json'"):
        read_retrain_report(v1)  # written by train, not by a retrain


def test_a_crash_while_writing_the_report_leaves_no_version(v1, tmp_path, monkeypatch):
    db = tmp_path / "ev.sqlite"
    with EventLog(db) as log:
        log.append([_ev("1", 100, 20)])
    real = persistence._write_file

    def crash(path, write):
        if path.name == "retrain.json":
            raise KeyboardInterrupt  # a kill mid-write: nothing may be left half-written
        return real(path, write)

    monkeypatch.setattr(persistence, "_write_file", crash)
    with pytest.raises(KeyboardInterrupt):
        retrain_from_log(db, v1, tmp_path / "v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.sqlite"]  # no version, no temporary folder
    monkeypatch.setattr(persistence, "_write_file", real)
    assert retrain_from_log(db, v1, tmp_path / "v2").log_events == 1


def test_retrain_writes_no_file_itself():
    """Everything in a version folder goes through the persistence writer (no direct writes)."""
    writes = {"write_text", "write_bytes", "open", "rename", "replace", "savez", "dump", "copytree"}
    calls = {(c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", ""))
             for c in ast.walk(ast.parse(inspect.getsource(retrain))) if isinstance(c, ast.Call)}
    assert not calls & writes and "write_part" in calls
