"""FM / DeepFM: the O(kn) identity, the factor decomposition and the split first layer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shortlist.neural import FM, DeepFM, FMCore
from shortlist.neural.fm import naive_pairwise
from tests.conftest import block_interactions
from tests.neural import block_features

torch.set_num_threads(1)


def test_okn_formula_equals_naive_pairwise_sum():
    torch.manual_seed(0)
    core = FMCore(30, 4, 5)
    torch.nn.init.normal_(core.emb.weight)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 30, size=(7, 6))
    val = rng.normal(size=(7, 6)).astype(np.float32)
    val[:, -1] = 0  # padding slots contribute nothing
    with torch.no_grad():
        fast = core.fm(torch.from_numpy(idx), torch.from_numpy(val)) - core.bias
    np.testing.assert_allclose(fast.numpy(), naive_pairwise(core.emb.weight, idx, val), rtol=1e-4, atol=1e-4)


def test_linear_term_and_bias():
    core = FMCore(4, 1, 2)
    with torch.no_grad():
        core.emb.weight.zero_()
        core.lin.weight.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
        core.bias.fill_(0.5)
        out = core.fm(torch.tensor([[0, 3]]), torch.tensor([[2.0, -1.0]]))
    assert out.item() == pytest.approx(0.5 + 2 - 4)


def _fitted(cls):
    data = block_interactions(20, 16)
    users, items = block_features(data)
    return cls(epochs=3, validation_fraction=0.0, device="cpu", seed=0).fit(
        data, user_features=users, item_features=items)


@pytest.mark.parametrize("cls", [FM, DeepFM])
def test_all_item_scoring_equals_pairwise_forward(cls):
    """Fast block scoring (factor split, split first layer) = the module on each (user, item) row."""
    model = _fitted(cls)
    u = torch.arange(20).repeat_interleave(16)
    i = torch.arange(16).repeat(20)
    with torch.no_grad():
        direct = model._pair_scores(u, i).view(20, 16).numpy()
    np.testing.assert_allclose(model.score_indices(np.arange(20)), direct, rtol=1e-4, atol=1e-5)
    sub = model.score_indices(np.array([3, 1]), np.array([5, 0, 7]))
    np.testing.assert_allclose(sub, direct[[3, 1]][:, [5, 0, 7]], rtol=1e-4, atol=1e-5)


def test_fm_uses_features_for_cold_items():
    """An item never trained on gets its id's unknown slot: its score comes from its features."""
    data = block_interactions()
    users, items = block_features(data)
    keep = data.item_index != 29  # item 29 (second community) never seen in training
    train = data.subset(keep)
    model = FM(epochs=20, validation_fraction=0.0, device="cpu", learning_rate=0.01).fit(
        train, user_features=users, item_features=items)
    s = model.score_indices(np.arange(40), np.array([29]))[:, 0]
    assert s[20:].mean() > s[:20].mean()  # ranks higher for the community sharing its genres
