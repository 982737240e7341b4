"""Two-tower: logQ correction, the streaming frequency estimate, cold-start embeddings."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shortlist.data import FeatureTable, Vocab
from shortlist.errors import ConfigError
from shortlist.neural import FrequencyEstimator, TwoTower, corrected_logits
from tests.conftest import block_interactions
from tests.neural import block_features

torch.set_num_threads(1)


def test_logq_correction_shifts_logits_by_minus_log_q():
    torch.manual_seed(0)
    u, v = torch.randn(5, 4), torch.randn(5, 4)
    q = torch.tensor([0.5, 0.1, 0.01, 1.0, 0.25])
    plain = corrected_logits(u, v, None, 0.2)
    fixed = corrected_logits(u, v, torch.log(q), 0.2)
    torch.testing.assert_close(fixed - plain, (-torch.log(q)).expand(5, 5))
    torch.testing.assert_close(plain, u @ v.T / 0.2)


def test_frequency_estimate_converges_to_sighting_interval():
    est = FrequencyEstimator(n_buckets=10, alpha=0.05)
    for step in range(5000):
        items = [0]  # every step
        if step % 4 == 0:
            items.append(1)  # every 4th step
        if step % 25 == 0:
            items.append(2)
        est.update(np.array(items + [0]), step)  # a duplicate in a batch counts once
    np.testing.assert_allclose(est.probability(np.array([0, 1, 2])), [1.0, 0.25, 0.04], rtol=1e-3)
    assert est.probability(np.array([7]))[0] == 1.0  # never seen


def test_logq_is_used_in_training_loss():
    data = block_interactions()
    on = TwoTower(epochs=2, validation_fraction=0.0, device="cpu", batch_size=32).fit(data)
    off = TwoTower(epochs=2, validation_fraction=0.0, device="cpu", batch_size=32, logq_correction=False).fit(data)
    assert on.freq_.last.max() > 0 and off.freq_.last.max() == -1
    assert not np.allclose(on.item_factors_, off.item_factors_)


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_normalization(similarity):
    m = TwoTower(epochs=2, validation_fraction=0.0, device="cpu", similarity=similarity).fit(block_interactions())
    norms = np.linalg.norm(m.item_factors_, axis=1)
    if similarity == "cosine":
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(m.user_factors_, axis=1), 1.0, rtol=1e-5)
    else:
        assert np.ptp(norms) > 1e-3


def _cold_setup():
    data = block_interactions()
    users, items = block_features(data)
    train = data.subset(data.item_index < 28)  # items 28, 29 (2nd community) never seen
    model = TwoTower(epochs=25, validation_fraction=0.0, device="cpu", learning_rate=0.01, id_dropout=0.5)
    return data, users, items, model.fit(train, user_features=users, item_features=items)


def test_cold_items_embedded_from_features():
    _data, _users, _items, m = _cold_setup()
    s = m.score_indices(np.arange(40), np.array([28, 29]))
    assert s[20:].mean() > s[:20].mean() + 0.1
    # a brand-new item, outside the vocabulary, given by its features only
    new = FeatureTable(Vocab(["new"]))
    new.add_multi("genres", [["z"]])
    new.add_numeric("year", [1995.0])
    vec = m.embed_items(["new"], new)[0]
    np.testing.assert_allclose(vec, m.item_factors_[28], atol=0.05)  # same features as item 28 (year aside)
    by_user = m.user_factors_ @ vec
    assert by_user[20:].mean() > by_user[:20].mean()


def test_new_user_from_features_and_short_history():
    data, _users, _items, m = _cold_setup()
    new = FeatureTable(Vocab(["n1"]))
    new.add_categorical("side", ["b"])
    hist = data.matrix[[35]][:, :]
    hist = hist.multiply(np.arange(30) < 18).tocsr()  # a short history: the first items of user 35
    vec = m.embed_users(new, ["n1"], history=hist)[0]
    scores = m.item_factors_ @ vec
    assert scores[15:].mean() > scores[:15].mean()
    with pytest.raises(ConfigError, match="embed_users needs"):
        m.embed_users()
