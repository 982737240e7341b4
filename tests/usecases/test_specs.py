"""Every use-case spec parses, and the rules each spec declares hold for what it serves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shortlist.data.world.usecases import USE_CASES
from shortlist.pipeline.usecases import load_usecase, usecase_config_path
from shortlist.retrieval.types import Request
from shortlist.rules import ItemAttributes, OpeningHours

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", USE_CASES)
def test_every_spec_parses_with_its_usecase_table(name):
    usecase, spec = load_usecase(usecase_config_path(name))
    assert usecase.use_case == name and spec.name == name
    assert (usecase.bandit is not None) == (name == "news")
    assert (usecase.rows is not None) == (name == "streaming")


@given(user=st.integers(0, 199), hour=st.floats(0, 24 * 7, allow_nan=False))
@_SETTINGS
def test_delivery_never_serves_outside_the_radius_closed_or_over_budget(delivery, user, hour):
    ucw, _, pipe = delivery
    t = ucw.cutoff + hour * 3600.0
    ctx = {"now": t, "lat": float(ucw.world.users.lat[user]), "lon": float(ucw.world.users.lon[user]),
           "price_max": float(ucw.extras["budget"][user])}
    items = pipe.recommend(Request(user_index=user, k=10, context=ctx)).item_indices
    assert np.all(ucw.delivery_violations(user, items, t) == 0)
    sellers = ucw.world.items.creator[items]
    assert np.unique(sellers).size == sellers.size  # one dish per seller


@given(user=st.integers(0, 199))
@_SETTINGS
def test_social_caps_creators_and_never_repeats_seen_items(social, user):
    ucw, ds, pipe = social
    items = pipe.recommend(Request(user_index=user, k=10, context={"now": float(ucw.cutoff)})).item_indices
    assert np.bincount(ucw.world.items.creator[items]).max(initial=0) <= 2
    m = ds.interactions.matrix
    assert not np.isin(items, m.indices[m.indptr[user]:m.indptr[user + 1]]).any()


@given(open_h=st.floats(0, 23.99), close_h=st.floats(0, 23.99), now_h=st.floats(0, 24 * 30))
@settings(max_examples=200, deadline=None)
def test_opening_hours_keeps_exactly_the_open_items(open_h, close_h, now_h):
    from shortlist.retrieval.types import Candidates

    attrs = ItemAttributes(1, available_from=[open_h * 3600], available_until=[close_h * 3600])
    rule = OpeningHours(attrs)
    cands = Candidates(np.array([0]), np.array([1.0], np.float32), {})
    kept = rule(Request(context={"now": now_h * 3600}), cands)
    tod = now_h % 24
    is_open = (open_h <= tod < close_h) if open_h <= close_h else (tod >= open_h or tod < close_h)
    assert len(kept) == int(is_open)
