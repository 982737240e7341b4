"""Hard constraints: geographic radius, price range, availability window."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig, context_float, request_now
from shortlist.rules.registry import register_rule

__all__ = ["EARTH_RADIUS_KM", "AvailabilityWindow", "GeoRadius", "PriceRange", "haversine_km"]

#: Mean Earth radius (IUGG), the usual choice for haversine distances.
EARTH_RADIUS_KM = 6371.0088


def haversine_km(
    lat1: float | np.ndarray,
    lon1: float | np.ndarray,
    lat2: float | np.ndarray,
    lon2: float | np.ndarray,
) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasts)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@register_rule("geo_radius")
class GeoRadius(Rule):
    """Drop items farther than ``radius_km`` from the user.

    The user's location is ``context["lat"]``/``context["lon"]``, else the home location of
    a known user (the ``home`` attribute, when set). ``context["radius_km"]`` overrides the
    radius. Without a user location nothing is dropped, unless ``require_user_location``
    (then every candidate is dropped as ``"no-user-location"``). Items too far are dropped
    as ``"outside-radius"``; items without a location as ``"no-location"`` unless
    ``keep_unlocated``.
    """

    class Config(RuleConfig):
        radius_km: float = Field(..., gt=0, description="a positive distance in km")
        keep_unlocated: bool = Field(False, description="true to keep items without lat/lon")
        require_user_location: bool = Field(
            False, description="true to drop everything when the user's location is unknown"
        )

    requires = ("lat", "lon")

    def _build(self) -> None:
        # radians and cos(lat) once, so a request costs a few ufuncs and no arcsin
        self.lat_ = np.radians(self.attributes.lat)
        self.lon_ = np.radians(self.attributes.lon)
        self.cos_lat_ = np.cos(self.lat_)
        self.located_ = np.isfinite(self.lat_) & np.isfinite(self.lon_)

    def user_location(self, request: Request) -> tuple[float, float] | None:
        """(lat, lon) of the request's user, or None when unknown."""
        lat, lon = context_float(request, "lat", None), context_float(request, "lon", None)
        if lat is not None and lon is not None:
            return lat, lon
        home = self.attributes.home
        if home is not None and 0 <= request.user_index < home.shape[0]:
            hl = home[request.user_index]
            if np.isfinite(hl).all():
                return float(hl[0]), float(hl[1])
        return None

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop candidates outside the radius."""
        where = self.user_location(request)
        if where is None:
            if not self.config.require_user_location or len(candidates) == 0:
                return candidates, []
            return self._filter(
                candidates, np.zeros(len(candidates), np.int64), ("no-user-location",)
            )
        radius = context_float(request, "radius_km", self.config.radius_km)
        items = candidates.items
        ulat, ulon = np.radians(where[0]), np.radians(where[1])
        # haversine: d > radius  <=>  a > sin^2(radius / 2R) (monotone, so no arcsin per item)
        half = min(radius / (2 * EARTH_RADIUS_KM), np.pi / 2)
        a = (
            np.sin((self.lat_[items] - ulat) / 2) ** 2
            + np.cos(ulat) * self.cos_lat_[items] * np.sin((self.lon_[items] - ulon) / 2) ** 2
        )
        codes = np.where(a > np.sin(half) ** 2, 0, -1)
        codes[~self.located_[items]] = -1 if self.config.keep_unlocated else 1
        return self._filter(candidates, codes, ("outside-radius", "no-location"))


@register_rule("price_range")
class PriceRange(Rule):
    """Drop items priced outside ``[min, max]``.

    ``context["price_min"]``/``context["price_max"]`` override the configured bounds; a
    missing bound is open. Drops: ``"price"`` (outside), ``"no-price"`` (unknown price,
    unless ``keep_unpriced``).
    """

    class Config(RuleConfig):
        min: float | None = Field(
            None, description="a number, the lowest allowed price (omit for none)"
        )
        max: float | None = Field(
            None, description="a number, the highest allowed price (omit for none)"
        )
        keep_unpriced: bool = Field(False, description="true to keep items without a price")

        @model_validator(mode="after")
        def _ordered(self) -> PriceRange.Config:
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min={self.min!r} is above max={self.max!r}; fix: swap them")
            return self

    requires = ("price",)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop candidates outside the price range."""
        lo = context_float(request, "price_min", self.config.min)
        hi = context_float(request, "price_max", self.config.max)
        price = self.attributes.price[candidates.items]
        out = np.zeros(price.shape, bool)
        if lo is not None:
            out |= price < lo
        if hi is not None:
            out |= price > hi
        codes = np.where(out, 0, -1)
        if not self.config.keep_unpriced:
            codes[np.isnan(price)] = 1
        return self._filter(candidates, codes, ("price", "no-price"))


@register_rule("availability_window")
class AvailabilityWindow(Rule):
    """Drop items not available now: keep ``available_from <= now <= available_until``.

    ``now`` is ``context["now"]`` (epoch seconds; the wall clock when absent). A missing
    bound (NaN) is open. Drops are recorded as ``"unavailable"``. Either attribute may be
    absent, but not both.
    """

    class Config(RuleConfig):
        pass

    def _build(self) -> None:
        a = self.attributes
        if not (a.has("available_from") or a.has("available_until")):
            a.require("available_from", self.kind)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop candidates outside their availability window."""
        now = request_now(request)
        items = candidates.items
        bad = np.zeros(items.shape, bool)
        if self.attributes.available_from is not None:
            bad |= self.attributes.available_from[items] > now  # NaN compares False: open bound
        if self.attributes.available_until is not None:
            bad |= self.attributes.available_until[items] < now
        return self._filter(candidates, np.where(bad, 0, -1), ("unavailable",))
