"""Every artefact saves through the one model-folder writer: round trips, damage, crashes.

Per artefact type (dataset, ANN index, LambdaMART text model, value model, source store,
bandit policy, tuning report, pipeline): a save/load round trip gives equal arrays and
answers, and a damaged file is named. A crash while a pipeline is being saved over an
existing one leaves the old folder loadable with the same answers. Finally, no ``save`` in
the package writes files itself (an AST check), and a pipeline is one call of the writer.
"""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from shortlist.bandits import LinUCB, Policy
from shortlist.core import atomic, persistence
from shortlist.data import Dataset
from shortlist.data.world import generate_world
from shortlist.errors import ModelFileError
from shortlist.pipeline import Pipeline
from shortlist.pipeline.tuning.report import JOURNAL, TuningReport
from shortlist.ranking import LambdaMARTRanker, ValueModel
from shortlist.retrieval.ann import ANNIndex, faiss_available
from shortlist.retrieval.sources.store import SourceStore
from tests.conftest import block_interactions

SRC = Path(__file__).resolve().parents[1] / "src" / "shortlist"

SPEC = {
    "name": "saved", "k": 5,
    "models": {"pop": {"kind": "popularity"}, "als": {"kind": "als", "params": {"factors": 8, "iterations": 3}}},
    "sources": [{"name": "emb", "kind": "embedding", "model": "als", "index": "hnsw", "quota": 15},
                {"name": "pop", "kind": "model", "model": "pop", "quota": 10}],
    "features": {"scorers": ["als", "pop"]},
    "stages": [{"name": "blend", "kind": "linear", "budget": 12, "params": {"weights": {"model_als_z": 1.0}}},
               {"name": "rank", "kind": "lightgbm", "budget": 8, "params": {"n_estimators": 10, "min_data_in_leaf": 5}}],
    "rules": [{"kind": "exclude_seen"}],
    "training": {"label_fraction": 0.3, "seed": 1},
}


def corrupt(path: Path) -> None:
    """Flip one byte in the middle of ``path``."""
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def largest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def queries(x: np.ndarray) -> np.ndarray:
    return x[:7] + 0.01


@pytest.fixture(scope="module")
def pipeline():
    pytest.importorskip("faiss")
    data = block_interactions(n_users=60, n_items=40, density=0.4)
    return Pipeline(SPEC).fit(Dataset("blocks", data), progress=False)


def test_dataset_round_trip_and_damage(tmp_path):
    ds = generate_world("tiny", seed=1).dataset()
    ds.save(tmp_path / "d")
    back = Dataset.load(tmp_path / "d")
    a, b = ds.to_part(), back.to_part()
    assert a.arrays.keys() == b.arrays.keys() and a.meta == b.meta
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])
    assert (ds.social is None) == (back.social is None) and (ds.item_features is None) == (back.item_features is None)
    corrupt(tmp_path / "d" / "arrays.npz")
    with pytest.raises(ModelFileError, match="arrays.npz is corrupted"):
        Dataset.load(tmp_path / "d")


@pytest.mark.parametrize("kind", ["exact", "hnsw", "pq"])
def test_ann_index_round_trip_and_damage(tmp_path, kind):
    if kind != "exact" and not faiss_available():
        pytest.skip("the approximate kinds need faiss")
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    index = ANNIndex(kind, pq_m=4).build(x)
    index.save(tmp_path / "ix")
    back = ANNIndex.load(tmp_path / "ix")
    for got, want in zip(back.search(queries(x), 5), index.search(queries(x), 5)):
        np.testing.assert_array_equal(got, want)
    corrupt(largest_file(tmp_path / "ix"))
    with pytest.raises(ModelFileError, match="corrupted"):
        ANNIndex.load(tmp_path / "ix")


def test_lambdamart_text_model_and_value_model_round_trip_and_damage(tmp_path):
    pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=400) > 0.5).astype(np.float32)
    ranker = LambdaMARTRanker(n_estimators=15, min_data_in_leaf=5).fit(x, y, np.full(20, 20), feature_names=list("abcd"))
    ranker.save(tmp_path / "r")
    assert (tmp_path / "r" / "model.txt").read_text().startswith("tree")  # LightGBM's own text, readable
    np.testing.assert_array_equal(LambdaMARTRanker.load(tmp_path / "r").score(x), ranker.score(x))
    vm = ValueModel(objectives={"click": 1.0, "never": -1.0}, n_estimators=10).fit(
        x, {"click": y, "never": np.zeros_like(y)}, list("abcd"))
    vm.save(tmp_path / "vm")
    back = ValueModel(objectives={"click": 1.0, "never": -1.0}).load_models(tmp_path / "vm")
    assert back.constant_ == {"never": 0.0}
    np.testing.assert_array_equal(back.score(x), vm.score(x))
    for folder, load in ((tmp_path / "r", LambdaMARTRanker.load),
                         (tmp_path / "vm", ValueModel(objectives={"click": 1.0, "never": -1.0}).load_models)):
        corrupt(largest_file(folder))
        with pytest.raises(ModelFileError, match="corrupted"):
            load(folder)


def test_source_store_round_trip_and_damage(tmp_path):
    x = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    store = SourceStore()
    ids = store.get("i2i", "neighbours", lambda: (np.arange(6).reshape(2, 3), np.ones((2, 3), np.float32)))
    index = store.get("emb", "ann", lambda: ANNIndex("exact").build(x))
    store.save(tmp_path / "s")
    back = SourceStore.load(tmp_path / "s")
    never = lambda: pytest.fail("recomputed a stored value")
    for got, want in zip(back.get("i2i", "neighbours", never), ids):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(back.get("emb", "ann", never).search(x[:3], 4)[0], index.search(x[:3], 4)[0])
    corrupt(tmp_path / "s" / "i2i.neighbours" / "arrays.npz")
    with pytest.raises(ModelFileError, match="corrupted"):
        SourceStore.load(tmp_path / "s")


def test_bandit_policy_damage_is_named(tmp_path):
    p = LinUCB(arms=3, alpha=0.5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        ctx = rng.normal(size=(1, 4))
        p.update(ctx, p.select(ctx, k=1).actions[:, 0], np.ones(1))
    p.save(tmp_path / "p")
    corrupt(tmp_path / "p" / "arrays.npz")
    with pytest.raises(ModelFileError, match="corrupted"):
        Policy.load(tmp_path / "p")


def test_tuning_report_keeps_the_journal_beside_it(tmp_path):
    folder = tmp_path / "tuning"
    folder.mkdir()
    (folder / JOURNAL).write_text('{"op_code": 0}\n')
    report = TuningReport(metric="ndcg@10", budget_seconds=5.0, reasons=["because"])
    report.save(folder)
    assert (folder / JOURNAL).read_text() == '{"op_code": 0}\n'
    assert json.loads((folder / "report.json").read_text()) == json.loads(json.dumps(report.to_dict(), default=str))
    corrupt(folder / "report.txt")
    with pytest.raises(ModelFileError, match="report.txt is corrupted"):
        persistence.read_part(folder)


def test_pipeline_round_trip_is_one_write_and_damage_anywhere_is_named(pipeline, tmp_path, monkeypatch):
    real, calls = persistence.replace_folder, []
    monkeypatch.setattr(persistence, "replace_folder", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    pipeline.save(tmp_path / "p")
    assert calls == [tmp_path / "p"]  # the whole tree in one atomic write
    loaded = Pipeline.load(tmp_path / "p")
    for user in range(0, 60, 7):
        a, b = pipeline.recommend(user), loaded.recommend(user)
        assert a.item_ids == b.item_ids
        np.testing.assert_array_equal(a.scores, b.scores)
    manifests = sorted(p.relative_to(tmp_path / "p").as_posix() for p in (tmp_path / "p").rglob("model.json"))
    assert "stages/rank/scorer/model.json" in manifests and "sources/emb.ann/model.json" in manifests
    for target in ("stages/rank/scorer/model.txt", "sources/emb.ann/index.faiss", "models/als/arrays.npz",
                   "stages/blend/scorer/model.json", "pipeline.json"):
        monkeypatch.undo()
        pipeline.save(tmp_path / "q")
        corrupt(tmp_path / "q" / target)
        with pytest.raises(ModelFileError, match="corrupted"):
            Pipeline.load(tmp_path / "q")


@pytest.mark.parametrize("fail_at", [1, 5, "pipeline.json"])  # the first file, one inside, the last one
def test_a_crash_while_saving_over_a_pipeline_keeps_the_old_one(pipeline, tmp_path, monkeypatch, fail_at):
    folder = tmp_path / "p"
    pipeline.save(folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    real, n = persistence._write_file, []

    def crash(path, write):
        n.append(path)
        if len(n) == fail_at or path.name == fail_at:
            raise KeyboardInterrupt  # a kill mid-save, not only an OSError
        return real(path, write)

    monkeypatch.setattr(persistence, "_write_file", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline.save(folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["p"]
    assert Pipeline.load(folder).recommend(3).item_ids == pipeline.recommend(3).item_ids


def test_an_earlier_pipeline_layout_asks_to_be_saved_again(tmp_path):
    (tmp_path / "pipeline.json").write_text(json.dumps({"format": "shortlist-pipeline", "format_version": 1}))
    with pytest.raises(ModelFileError, match="earlier Shortlist layout .*re-save it with this version"):
        Pipeline.load(tmp_path)


def test_the_swap_is_one_rename_where_the_system_has_renameat2(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    if not atomic._exchange(a, b):
        pytest.skip("no renameat2 RENAME_EXCHANGE here (the two-rename fallback is tested in tests/core)")
    assert (b / "x").read_text() == "a" and not (a / "x").exists()


# -- one writer --------------------------------------------------------------------------
_WRITES = {"savez", "savez_compressed", "save", "write_text", "write_bytes", "dump", "write_index",
           "save_model", "open", "to_csv", "to_parquet", "tofile"}
_WRITERS = {"write_part", "write_model_dir"}
#: functions named save* that write something other than a model folder, and why
_NOT_MODEL_FOLDERS = {
    "core/persistence.py": "the writer itself",
    "core/atomic.py": "the writer's folder swap",
    "online/checkpoint.py": "a single-file snapshot of live online state, fsynced and renamed (see its docstring)",
}


def _save_functions():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in _NOT_MODEL_FOLDERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    node.name == "save" or node.name.startswith("save_") or node.name == "to_part"):
                yield rel, node


def _called(node: ast.AST, *, writes_only: bool = False) -> set[str]:
    """Names of the functions ``node`` calls (``np.save`` counts as a write, ``part.save`` does not)."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            if not writes_only or (name in _WRITES and (name != "save" or owner in ("np", "numpy", "torch"))):
                out.add(name)
    return out


def test_no_save_writes_files_itself():
    offenders = [f"{rel}:{node.lineno} {node.name}() calls {sorted(_called(node, writes_only=True))}"
                 for rel, node in _save_functions() if _called(node, writes_only=True)]
    assert not offenders, "write through shortlist.core.persistence.write_part instead:\n" + "\n".join(offenders)


def test_every_save_goes_through_the_writer():
    """A ``save`` calls the writer, or another ``save``/``to_part`` (which do)."""
    found = [(rel, node) for rel, node in _save_functions() if node.name == "save"]
    assert len(found) >= 10
    lost = [f"{rel}:{node.lineno}" for rel, node in found
            if not _called(node) & (_WRITERS | {"save", "to_part"})]
    assert not lost, "these save methods bypass shortlist.core.persistence: " + ", ".join(lost)
