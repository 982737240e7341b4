"""Contract tests every Recommender must pass; mix ``RecommenderContract`` into a test class.

Subclasses define ``make_model(self)`` returning an unfitted model with small, fast
hyperparameters. The data is two communities of users and items (see conftest).
"""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.errors import ConfigError, ModelFileError, NotFittedError, UnknownIdError
from shortlist.models import Recommender
from tests.conftest import block_interactions


class RecommenderContract:
    """Behaviour shared by all models: fit/recommend/save/load/exclude seen/bad ids."""

    #: share of top-5 recommendations that must fall in the user's own community
    min_in_community: float = 0.9

    def make_model(self) -> Recommender:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def data(self):
        return block_interactions()

    @pytest.fixture
    def fitted(self, data):
        return self.make_model().fit(data)

    def test_fit_returns_self(self, data):
        model = self.make_model()
        assert model.fit(data) is model

    def test_unfitted_raises(self):
        with pytest.raises(NotFittedError, match="fit"):
            self.make_model().recommend([0], k=3)

    def test_recommend_excludes_seen_and_is_sorted(self, fitted, data):
        rec = fitted.recommend(np.arange(data.n_users), k=5)
        seen = data.matrix
        for u in range(data.n_users):
            items = rec.item_indices[u][rec.item_indices[u] >= 0]
            assert not set(items) & set(seen[u].indices)
            sc = rec.scores[u][rec.item_indices[u] >= 0]
            assert np.all(np.diff(sc) <= 1e-6)

    def test_learns_communities(self, fitted, data):
        rec = fitted.recommend(np.arange(data.n_users), k=5)
        user_group = np.arange(data.n_users) >= data.n_users // 2
        item_group = rec.item_indices >= data.n_items // 2
        valid = rec.item_indices >= 0
        share = ((item_group == user_group[:, None]) & valid).sum() / valid.sum()
        assert share >= self.min_in_community

    def test_include_seen(self, fitted, data):
        rec = fitted.recommend([0], k=data.n_items, exclude_seen=False)
        assert (rec.item_indices[0] >= 0).sum() == data.n_items

    def test_items_restriction(self, fitted, data):
        allowed = np.array([1, 3, 20, 25])
        rec = fitted.recommend([0, 30], k=3, exclude_seen=False, items=allowed)
        assert set(rec.item_indices.ravel()) <= set(allowed) | {-1}

    def test_score_matches_recommend(self, fitted):
        rec = fitted.recommend([2], k=3, exclude_seen=False)
        direct = fitted.score([2], rec.item_ids[0].tolist())
        np.testing.assert_allclose(direct[0], rec.scores[0], rtol=1e-4, atol=1e-5)

    def test_unknown_user_and_bad_k(self, fitted):
        with pytest.raises(UnknownIdError, match="unknown user"):
            fitted.recommend([10_000], k=3)
        for bad in (0, -1, 2.5):
            with pytest.raises(ConfigError, match="k must be a positive integer"):
                fitted.recommend([0], k=bad)

    def test_save_load_roundtrip(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted)
        a = fitted.recommend([0, 1, 35], k=5)
        b = loaded.recommend([0, 1, 35], k=5)
        np.testing.assert_array_equal(a.item_indices, b.item_indices)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)

    def test_file_from_another_format_version(self, fitted, tmp_path):
        import json

        path = fitted.save(tmp_path / "m")
        meta_file = next(p for p in path.iterdir() if p.suffix == ".json")
        meta = json.loads(meta_file.read_text())
        meta["format_version"] = meta["format_version"] + 1
        meta_file.write_text(json.dumps(meta))
        with pytest.raises(ModelFileError, match="model format version .* retrain"):
            Recommender.load(path)

    def test_corrupted_file(self, fitted, tmp_path):
        path = fitted.save(tmp_path / "m")
        npz = path / "arrays.npz"
        raw = bytearray(npz.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        npz.write_bytes(bytes(raw))
        with pytest.raises(ModelFileError, match="corrupted"):
            Recommender.load(path)
