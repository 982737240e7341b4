"""Popularity baseline: contract + exact counts."""

import numpy as np
import scipy.sparse as sp

from shortlist.data import Interactions
from shortlist.models import Popularity
from tests.models.contract import RecommenderContract


class TestPopularityContract(RecommenderContract):
    min_in_community = 0.0  # popularity ignores users by design

    def make_model(self):
        return Popularity()


def test_scores_are_user_counts():
    m = sp.csr_matrix(np.array([[1, 0, 3], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    model = Popularity().fit(Interactions.from_matrix(m))
    np.testing.assert_array_equal(model.item_scores_, [2, 0, 2])
    weighted = Popularity(by="weight").fit(Interactions.from_matrix(m))
    np.testing.assert_array_equal(weighted.item_scores_, [2, 0, 4])
    rec = model.recommend([1], k=2)
    assert rec.item_ids[0].tolist() == [2, 1]
