"""The model-folder writer: nested parts and blobs round-trip, damage is named, saving is atomic."""

import json

import numpy as np
import pytest

from shortlist.core import atomic, persistence
from shortlist.core.persistence import FORMAT_VERSION, Part, read_model_dir, read_part, write_part
from shortlist.errors import ModelFileError


def tree() -> Part:
    rng = np.random.default_rng(0)
    leaf = Part({"k": 2}, {"w": rng.random((3, 4), dtype=np.float32)}, {"model.txt": "tree 1\nleaf 0.5\n"})
    return Part(
        {"name": "root", "x": np.float32(1.5), "ids": np.arange(3)},
        {"ints": np.arange(10, dtype=np.int64), "names": np.array(["a", "bb", "ccc"]),
         "empty": np.zeros((0, 2), np.float32)},
        {"index.faiss": bytes(range(256)) * 3},
        {"models": Part(parts={"als": leaf, "odd name/..": Part({"z": None})}), "data": Part({"n": 3})},
    )


def assert_same(a: Part, b: Part) -> None:
    assert a.arrays.keys() == b.arrays.keys()
    for key, arr in a.arrays.items():
        assert b.arrays[key].dtype == arr.dtype
        np.testing.assert_array_equal(b.arrays[key], arr)
    assert a.blobs == b.blobs
    assert a.parts.keys() == b.parts.keys()
    for name, sub in a.parts.items():
        assert_same(sub, b.parts[name])


def test_a_tree_round_trips_exactly(tmp_path):
    part = tree()
    write_part(tmp_path / "m", part)
    back = read_part(tmp_path / "m")
    assert_same(part, back)
    assert back.meta == {"name": "root", "x": 1.5, "ids": [0, 1, 2]}
    assert back.parts["models"].parts["odd name/.."].meta == {"z": None}
    assert isinstance(back.parts["models"].parts["als"].blobs["model.txt"], str)
    assert isinstance(back.blobs["index.faiss"], bytes)
    # every folder name stays inside the tree, readable by a person
    assert sorted(p.name for p in (tmp_path / "m" / "models").iterdir()) == ["als", "model.json", "odd_name_.."]


def test_saving_again_replaces_the_folder_and_leaves_no_temporary_sibling(tmp_path):
    write_part(tmp_path / "m", tree())
    write_part(tmp_path / "m", Part({"name": "second"}, {"a": np.ones(2)}))
    assert read_part(tmp_path / "m").meta == {"name": "second"}
    assert not (tmp_path / "m" / "models").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize("target", ["arrays.npz", "index.faiss", "models/als/model.txt", "models/als/arrays.npz",
                                    "models/als/model.json", "model.json"])
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_file_anywhere_in_the_tree_is_named(tmp_path, target, damage):
    write_part(tmp_path / "m", tree())
    path = tmp_path / "m" / target
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01
    else:
        del raw[len(raw) // 2:]
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupted") as err:
        read_part(tmp_path / "m")
    assert str(tmp_path / "m") in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    write_part(tmp_path / "m", tree())
    (tmp_path / "m" / "models" / "als" / "model.txt").unlink()
    with pytest.raises(ModelFileError, match=r"model.txt is missing"):
        read_part(tmp_path / "m")


def test_a_newer_or_unknown_version_has_a_clear_error(tmp_path):
    write_part(tmp_path / "m", Part({"a": 1}))
    manifest = tmp_path / "m" / "model.json"
    head = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**head, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ModelFileError, match="version 3, this Shortlist reads versions 1 to 2; install the newer"):
        read_part(tmp_path / "m")
    manifest.write_text(json.dumps({**head, "format_version": "x"}))
    with pytest.raises(ModelFileError, match="retrain the model with this release"):
        read_part(tmp_path / "m")
    manifest.write_text(json.dumps({"format": "shortlist-pipeline", "format_version": 1}))
    with pytest.raises(ModelFileError, match="earlier Shortlist layout .* re-save it with this version"):
        read_part(tmp_path / "m")
    with pytest.raises(ModelFileError, match="model.json missing"):
        read_part(tmp_path)


def test_version_1_folders_still_load(tmp_path):
    """``model.json`` + ``arrays.npz`` with one checksum, as the first release wrote them."""
    folder = tmp_path / "v1"
    folder.mkdir()
    np.savez(folder / "arrays.npz", a=np.arange(4))
    sha = persistence._sha256(folder / "arrays.npz")
    (folder / "model.json").write_text(json.dumps({"format": "shortlist-model", "format_version": 1,
                                                   "arrays_sha256": sha, "class": "X"}))
    meta, arrays = read_model_dir(folder)
    assert meta == {"class": "X"} and arrays["a"].tolist() == [0, 1, 2, 3]
    (folder / "arrays.npz").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="corrupted"):
        read_model_dir(folder)


def _fail_on(monkeypatch, call: int) -> None:
    real, calls = persistence._write_file, []

    def failing(path, write):
        calls.append(path)
        if len(calls) == call:
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(persistence, "_write_file", failing)


@pytest.mark.parametrize("call", [1, 3, 5])  # the first file, a sub-part, the root manifest
def test_a_crash_mid_save_leaves_the_old_folder_intact(tmp_path, monkeypatch, call):
    old = tree()
    write_part(tmp_path / "m", old)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    _fail_on(monkeypatch, call)
    with pytest.raises(OSError, match="No space"):
        write_part(tmp_path / "m", Part({"name": "new"}, {"a": np.ones(3)}, {"b.txt": "x"},
                                        {"p": Part({"q": 1}, {"a": np.ones(1)})}))
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert after == before
    assert_same(old, read_part(tmp_path / "m"))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the temporary sibling is gone


def test_a_failed_swap_without_renameat2_puts_the_old_folder_back(tmp_path, monkeypatch):
    write_part(tmp_path / "m", Part({"v": 1}))
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real_rename, seen = atomic.os.rename, []

    def rename(a, b):
        seen.append((a, b))
        if len(seen) == 2:  # the new folder's move into place
            raise OSError("disk gone")
        real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(OSError, match="disk gone"):
        write_part(tmp_path / "m", Part({"v": 2}))
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert read_part(tmp_path / "m").meta == {"v": 1}
    write_part(tmp_path / "m", Part({"v": 3}))  # the two-rename path works when nothing fails
    assert read_part(tmp_path / "m").meta == {"v": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_what_cannot_be_saved_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ModelFileError, match="dtype object, which would need pickle"):
        write_part(tmp_path / "m", Part(parts={"sub": Part(arrays={"o": np.array([{}], dtype=object)})}))
    with pytest.raises(ModelFileError, match="reserved"):
        write_part(tmp_path / "m", Part({"format": "mine"}))
    with pytest.raises(ModelFileError, match="not a plain file name"):
        write_part(tmp_path / "m", Part(blobs={"../x": b""}))
    with pytest.raises(ModelFileError, match="cannot be stored as JSON"):
        write_part(tmp_path / "m", Part({"f": object()}))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="holds other files .*notes.txt.* save to a new folder"):
        write_part(tmp_path, Part({"a": 1}))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="is a file"):
        write_part(tmp_path / "file", Part())
    empty = tmp_path / "empty"
    empty.mkdir()
    write_part(empty, Part({"a": 1}))
    assert read_part(empty).meta == {"a": 1}
