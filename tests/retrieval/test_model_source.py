"""ModelSource: the top items of any Recommender, for known and history-only users."""

import numpy as np
import pytest

from shortlist.errors import ConfigError
from shortlist.models import EASE, ItemKNN
from shortlist.retrieval import Request, SourceContext, build_source
from tests.conftest import block_interactions


@pytest.mark.parametrize("model_cls", [EASE, ItemKNN])
def test_matches_model_recommendations(model_cls):
    data = block_interactions()
    model = model_cls().fit(data)
    src = build_source("model", {"model": "m", "quota": 7}, SourceContext(data, {"m": model}))
    for u in (0, 5, 33):
        cands = src(Request(user_index=u))
        _idx, sc = model.recommend_indices(np.array([u]), 7)
        # same scores as the model's own top-7 (items may differ only among exact ties)
        np.testing.assert_allclose(np.sort(cands.scores), np.sort(sc[0]), rtol=1e-5)
        np.testing.assert_allclose(cands.scores, model.score_indices(np.array([u]), cands.items)[0], rtol=1e-5)
        assert not set(cands.items) & set(data.matrix[u].indices)
        assert cands.source_ranks["model"].tolist() == list(range(7))


def test_history_only_user_and_errors():
    data = block_interactions()
    model = EASE().fit(data)
    src = build_source("model", {"model": "m", "quota": 5}, SourceContext(data, {"m": model}))
    cands = src(Request(history=np.array([25, 26])))
    assert len(cands) == 5 and not {25, 26} & set(cands.items)
    assert np.all(cands.items >= 15)  # the history's community
    assert len(src(Request())) == 0  # nothing known: nothing proposed
    with pytest.raises(ConfigError, match="missing key 'model'"):
        build_source("model", {"quota": 5})
    with pytest.raises(ConfigError, match="not among the fitted models"):
        build_source("model", {"model": "zz"}, SourceContext(data, {"m": model}))
