"""The news bandit's per-request arm features: hand-checked values, the spec's checks, what it serves."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.errors import ConfigError
from shortlist.pipeline.usecases import load_usecase
from shortlist.pipeline.usecases.arm_features import arm_feature_names, request_arm_features
from shortlist.pipeline.usecases.policies import BanditPolicy
from shortlist.pipeline.usecases.spec import BanditSpec

NOW = 1_700_000_000.0


def test_request_features_by_hand():
    topic = np.array([1, 0, 2, 1])
    publish = np.array([NOW - 3 * 3600, NOW - 6 * 3600, NOW, NOW + 600])  # 3 h, 6 h, new, from the future
    f = request_arm_features(["topic", "stage_score", "age"], np.array([2, 0, 1, 3]), topic=topic, n_topics=3,
                             stage_scores=np.array([0.8, -0.25, 1.5, 0.0]), publish=publish, now=NOW,
                             age_half_life_hours=3.0)
    expected = np.array([
        # topic 0, 1, 2 | stage score | age: 2^(-hours / 3) | bias
        [0, 0, 1, 0.8, 1.0, 1],     # item 2: topic 2, published now
        [0, 1, 0, -0.25, 0.5, 1],   # item 0: topic 1, 3 h old
        [1, 0, 0, 1.5, 0.25, 1],    # item 1: topic 0, 6 h old
        [0, 1, 0, 0.0, 1.0, 1],     # item 3: published 10 min after now: counts as new
    ], dtype=float)
    np.testing.assert_allclose(f, expected)
    assert arm_feature_names(["topic", "stage_score", "age"], 3) == [
        "topic=0", "topic=1", "topic=2", "stage_score", "age", "bias"]
    # a different half-life, and only the per-request columns: 6 h at a 12 h half-life is 2^-0.5
    g = request_arm_features(["age", "stage_score"], np.array([1]), topic=topic, n_topics=3,
                             stage_scores=np.array([2.0]), publish=publish, now=NOW, age_half_life_hours=12.0)
    np.testing.assert_allclose(g, [[2 ** -0.5, 2.0, 1.0]])


def _spec_file(tmp_path, bandit: str, k: int = 10):
    path = tmp_path / "news.toml"
    path.write_text(f'name = "news"\nk = {k}\n[usecase]\nuse_case = "news"\nmetric = "clicks"\n'
                    f'bandit = {{ {bandit} }}\n[[sources]]\nname = "t"\nkind = "trending"\nquota = 50\n')
    return path


@pytest.mark.parametrize(("bandit", "message"), [
    ('arm_features = ["topic", "recency"]', r"bandit\.arm_features\[1\] = 'recency'.*fix: set .* to \"topic\", \"stage_score\" or \"age\""),
    ('arm_features = ["age", "age"]', r"bandit\.arm_features = \['age', 'age'\].*each feature once"),
    ("arm_features = []", r"bandit\.arm_features = \[\].*each feature once"),
    ("age_half_life_hours = 0", r"bandit\.age_half_life_hours = 0.*fix.*> 0"),
    ("slots = 0", r"bandit\.slots = 0.*fix"),
    ("slots = 11", r"bandit\.slots = 11 is more than k = 10; fix: set bandit\.slots to at most 10"),
])
def test_bad_bandit_settings_name_the_key_and_the_fix(tmp_path, bandit, message):
    with pytest.raises(ConfigError, match=message):
        load_usecase(_spec_file(tmp_path, bandit))


def test_good_bandit_settings_load(tmp_path):
    usecase, _ = load_usecase(_spec_file(tmp_path, 'arm_features = ["stage_score", "age"], slots = 3'))
    assert usecase.bandit.arm_features == ["stage_score", "age"] and usecase.bandit.slots == 3
    assert BanditSpec().arm_features == ["topic"] and BanditSpec().slots is None  # the earlier bandit


@pytest.mark.parametrize("slots", [None, 3])
def test_bandit_scores_the_blend_score_and_age_of_this_request(news, slots):
    ucw, ds, pipe = news
    publish = ucw.world.items.publish.astype(np.float64)
    spec = BanditSpec(pool=30, alpha=0.1, arm_features=["topic", "stage_score", "age"], slots=slots)
    pol = BanditPolicy(pipe, spec, ds, publish)
    now = ucw.cutoff + 5 * 3600.0
    user = 3
    blend = pipe.recommend(pol.request(user, 30, {"now": now}, np.zeros(0, np.int64)))
    served = pol.serve(user, 10, {"now": now}, np.zeros(0, np.int64)).rows[0]
    assert served.size == 10 and np.unique(served).size == 10 and np.isin(served, blend.item_indices).all()
    if slots is not None:  # the blend's head stays in place
        np.testing.assert_array_equal(served[:7], blend.item_indices[:7])
    for pos in (0, 9):
        item = int(blend.item_indices[pos])
        seen = pol.explain(item)
        assert seen["stage_score"] == pytest.approx(float(blend.scores[pos]))
        assert seen["age"] == pytest.approx(0.5 ** ((now - publish[item]) / 3600.0 / 3.0))
        assert seen[f"topic={int(pol.profiles.category[item])}"] == 1.0 and seen["bias"] == 1.0
    clicks = np.zeros(10, bool)
    clicks[1] = True
    pol.feedback(user, pol.serve(user, 10, {"now": now}, np.zeros(0, np.int64)), [clicks])
    assert pol.bandit.t_ == 10  # every shown story taught the bandit, with this request's features
