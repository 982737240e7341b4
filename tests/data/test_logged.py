"""LoggedFeedback validation and the Open Bandit Dataset loader."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data.logged import LoggedFeedback, load_open_bandit
from shortlist.errors import ConfigError, DataError, DatasetFormatError
from tests.conftest import shared_dataset


def _fb(**kw):
    base = {"contexts": np.zeros((3, 2)), "actions": [0, 1, 2], "rewards": [1.0, 0.0, 1.0],
                "propensities": [0.5, 0.25, 1.0], "n_actions": 3}
    base.update(kw)
    return LoggedFeedback(**base)


def test_valid_feedback_and_defaults():
    fb = _fb()
    assert fb.n_rounds == 3 and fb.len_list == 1
    np.testing.assert_array_equal(fb.positions, 0)
    sub = fb.subset(np.array([2, 0]))
    np.testing.assert_array_equal(sub.actions, [2, 0])


@pytest.mark.parametrize("kw, match", [
    ({"propensities": [0.5, 0.0, 1.0]}, "propensities must be probabilities in \\(0, 1\\]; row 1"),
    ({"propensities": [0.5, 1.5, 1.0]}, "row 1 has 1.5"),
    ({"rewards": [1.0, np.nan, 0.0]}, "NaN"),
    ({"actions": [0, 1, 3]}, "actions must be in 0..2"),
    ({"positions": [0, -1, 0]}, "positions"),
    ({"rewards": [1.0, 0.0]}, "rewards has 2 rows"),
])
def test_bad_feedback_raises(kw, match):
    with pytest.raises(DataError, match=match):
        _fb(**kw)
    with pytest.raises(ConfigError):
        _fb(n_actions=0)


def test_load_open_bandit_random_and_bts():
    path = shared_dataset("open-bandit")
    fb = load_open_bandit(path, "random")
    assert fb.n_rounds == 10_000 and fb.n_actions == 80 and fb.len_list == 3
    assert fb.rewards.sum() == 38
    np.testing.assert_allclose(fb.propensities, 0.0125)
    assert fb.action_context.shape == (80, 4)
    assert set(np.unique(fb.contexts)) <= {0.0, 1.0} and fb.contexts.shape[0] == 10_000
    # first logged row: item 14 in the right slot (position 3 -> index 2), no click
    assert (fb.actions[0], fb.positions[0], fb.rewards[0]) == (14, 2, 0.0)
    bts = load_open_bandit(path, "bts")
    assert bts.rewards.sum() == 42
    assert 4.4e-05 < bts.propensities.min() < bts.propensities.max() < 0.96
    with pytest.raises(ConfigError):
        load_open_bandit(path, "greedy")
    with pytest.raises(DatasetFormatError):
        load_open_bandit(path / "random", "random")


def test_loader_matches_obp_preprocessing():
    """The same arrays as obp 0.5.7's OpenBanditDataset.load_raw_data + pre_process (pandas code,
    re-run here because obp's own call to DataFrame.drop fails on pandas 3)."""
    pd = pytest.importorskip("pandas")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    from scipy.stats import rankdata

    path = shared_dataset("open-bandit")
    data = pd.read_csv(path / "random" / "all" / "all.csv", index_col=0)
    items = pd.read_csv(path / "random" / "all" / "item_context.csv", index_col=0)
    data = data.sort_values("timestamp")
    context = pd.get_dummies(data.loc[:, data.columns.str.contains("user_feature")], drop_first=True).values
    cat = items.drop(columns=["item_id", "item_feature_0"]).apply(preprocessing.LabelEncoder().fit_transform)
    action_context = pd.concat([cat, items["item_feature_0"].to_frame()], axis=1).values
    fb = load_open_bandit(path, "random")
    np.testing.assert_array_equal(fb.actions, data["item_id"].values)
    np.testing.assert_array_equal(fb.positions, (rankdata(data["position"].values, "dense") - 1).astype(int))
    np.testing.assert_array_equal(fb.rewards, data["click"].values)
    np.testing.assert_array_equal(fb.propensities, data["propensity_score"].values)
    np.testing.assert_array_equal(fb.contexts, context.astype(float))
    np.testing.assert_array_equal(fb.action_context, action_context.astype(float))
