"""Exact tests of the hard constraints: geo radius, price range, availability window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shortlist.errors import ConfigError, DataError
from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import AvailabilityWindow, GeoRadius, ItemAttributes, PriceRange, haversine_km

PARIS, LONDON, BERLIN = (48.8566, 2.3522), (51.5074, -0.1278), (52.52, 13.405)


def cands(n):
    return Candidates(np.arange(n), np.linspace(1, 0, n))


def reasons(drops):
    return {d.reason: sorted(d.items.tolist()) for d in drops}


def test_haversine_known_distances():
    assert haversine_km(*PARIS, *LONDON) == pytest.approx(343.56, abs=0.1)
    assert haversine_km(*PARIS, *BERLIN) == pytest.approx(877.5, abs=1.0)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)
    np.testing.assert_allclose(
        haversine_km(
            PARIS[0], PARIS[1], np.array([PARIS[0], LONDON[0]]), np.array([PARIS[1], LONDON[1]])
        ),
        [0, 343.56],
        atol=0.1,
    )


def geo_attrs():
    lat = np.array([PARIS[0], LONDON[0], BERLIN[0], np.nan])
    lon = np.array([PARIS[1], LONDON[1], BERLIN[1], 1.0])
    home = np.array([[BERLIN[0], BERLIN[1]], [np.nan, np.nan]])
    return ItemAttributes(4, lat=lat, lon=lon, home=home)


def test_geo_radius_from_request_location():
    rule = GeoRadius(geo_attrs(), radius_km=400)
    out, drops = rule.apply(Request(context={"lat": PARIS[0], "lon": PARIS[1]}), cands(4), 4)
    assert out.items.tolist() == [0, 1]
    assert reasons(drops) == {"outside-radius": [2], "no-location": [3]}
    # the request radius overrides; just below / above the Paris-London distance
    req = {"lat": PARIS[0], "lon": PARIS[1]}
    assert GeoRadius(geo_attrs(), radius_km=1000).apply(
        Request(context={**req, "radius_km": 343.4}), cands(4), 4
    )[0].items.tolist() == [0]
    assert GeoRadius(geo_attrs(), radius_km=1, keep_unlocated=True).apply(
        Request(context={**req, "radius_km": 343.7}), cands(4), 4
    )[0].items.tolist() == [0, 1, 3]


def test_geo_radius_home_location_and_unknown_user_location():
    rule = GeoRadius(geo_attrs(), radius_km=100)
    assert rule.apply(Request(user_index=0), cands(4), 4)[0].items.tolist() == [2]  # home in Berlin
    assert len(rule.apply(Request(user_index=1), cands(4), 4)[0]) == 4  # unknown: nothing dropped
    strict = GeoRadius(geo_attrs(), radius_km=100, require_user_location=True)
    out, drops = strict.apply(Request(user_index=1), cands(4), 4)
    assert len(out) == 0 and reasons(drops) == {"no-user-location": [0, 1, 2, 3]}


def test_geo_radius_needs_locations_and_positive_radius():
    with pytest.raises(ConfigError, match="needs the item attribute 'lat'"):
        GeoRadius(ItemAttributes(2), radius_km=5)
    with pytest.raises(
        ConfigError, match=r"radius_km=-5.*fix: set radius_km to a positive distance"
    ):
        GeoRadius(geo_attrs(), radius_km=-5)
    with pytest.raises(DataError, match="lat='north'"):
        GeoRadius(geo_attrs(), radius_km=5).apply(
            Request(context={"lat": "north", "lon": 1}), cands(4), 4
        )


def test_price_range_config_request_and_missing():
    attrs = ItemAttributes(5, price=np.array([5.0, 10.0, 20.0, 50.0, np.nan]))
    out, drops = PriceRange(attrs, min=10, max=20).apply(Request(), cands(5), 5)
    assert out.items.tolist() == [1, 2]  # bounds are inclusive
    assert reasons(drops) == {"price": [0, 3], "no-price": [4]}
    out, _ = PriceRange(attrs, max=20, keep_unpriced=True).apply(
        Request(context={"price_min": 6, "price_max": 60}), cands(5), 5
    )
    assert out.items.tolist() == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="min=30.0 is above max=20.0; fix: swap them"):
        PriceRange(attrs, min=30, max=20)


def test_availability_window_with_open_bounds():
    day = 86400.0
    attrs = ItemAttributes(
        4,
        available_from=np.array([0, 5 * day, np.nan, np.nan]),
        available_until=np.array([10 * day, np.nan, 2 * day, np.nan]),
    )
    out, drops = AvailabilityWindow(attrs).apply(Request(context={"now": 3 * day}), cands(4), 4)
    assert out.items.tolist() == [0, 3]
    assert reasons(drops) == {"unavailable": [1, 2]}
    assert AvailabilityWindow(attrs).apply(Request(context={"now": 5 * day}), cands(4), 4)[
        0
    ].items.tolist() == [0, 1, 3]
    only_until = ItemAttributes(2, available_until=np.array([1.0, 2e12]))  # one bound is enough
    assert AvailabilityWindow(only_until).apply(Request(), cands(2), 2)[0].items.tolist() == [1]
    with pytest.raises(ConfigError, match="'available_from'"):
        AvailabilityWindow(ItemAttributes(2))
