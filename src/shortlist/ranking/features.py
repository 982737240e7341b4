"""Candidate feature assembly: one row of features per (request, candidate) for rankers.

Columns, in order: per-source scores and ranks, model scores, item popularity and
recency, item numeric features, user activity, and user-item affinities (share of the
user's history in the item's category / creator, cosine between the user's profile and
the item's bag features such as genres or tags). Opt-in behavioural columns: the user's
play count of the item (log plus the request's history) and the item's mean age at its events. Missing values are NaN, which
LightGBM treats as "unknown" natively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, NotFittedError
from shortlist.models.base import Recommender
from shortlist.ranking._kernels import zscore_and_rank
from shortlist.ranking.behaviour import engaged_age_days, history_counts, user_item_counts
from shortlist.retrieval.types import Candidates, Request

__all__ = ["FeatureAssembler", "history_row"]


def history_row(request: Request, train: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, weights) of the request's history: training row plus request items."""
    if request.known_user and request.user_index < train.shape[0]:
        s, e = train.indptr[request.user_index], train.indptr[request.user_index + 1]
        items, weights = train.indices[s:e].astype(np.int64), np.ones(e - s, np.float32)
    else:
        items, weights = np.zeros(0, np.int64), np.zeros(0, np.float32)
    if request.history.size:
        extra = np.setdiff1d(np.asarray(request.history, np.int64), items)
        items = np.concatenate([items, extra])
        weights = np.concatenate([weights, np.ones(extra.size, np.float32)])
    return items, weights


def _within_request(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score and rank fraction among this request's candidates.

    Rankers are trained on models fitted to part of the data and served with models fitted
    to all of it; raw score scales shift between the two, positions within a request do not.
    """
    return zscore_and_rank(np.asarray(values, np.float64))


class FeatureAssembler:
    """Turn (request, candidates) into a float32 feature matrix with stable column names."""

    def __init__(
        self,
        *,
        sources: Sequence[str] = (),
        scorers: Mapping[str, Recommender] | None = None,
        item_features: FeatureTable | None = None,
        bag_columns: Sequence[str] = (),
        group_columns: Sequence[str] = (),
        numeric_columns: Sequence[str] = (),
        publish_time_column: str | None = None,
        user_item_counts: bool = False,
        engaged_age: bool = False,
    ) -> None:
        self.sources = list(sources)
        self.scorers = dict(scorers or {})
        self.item_features = item_features
        self.bag_columns = list(bag_columns)
        self.group_columns = list(group_columns)
        self.numeric_columns = list(numeric_columns)
        self.publish_time_column = publish_time_column
        self.user_item_counts = user_item_counts
        self.engaged_age = engaged_age
        if engaged_age and not publish_time_column:
            raise ConfigError("engaged_age needs publish_time_column (an item's age at its events)")
        if item_features is None and (bag_columns or group_columns or numeric_columns or publish_time_column):
            raise ConfigError("feature columns were named but no item feature table was given")

    # -- fitting -----------------------------------------------------------------------
    def fit(self, train: Interactions) -> "FeatureAssembler":
        """Precompute item statistics and normalized bag matrices from training data."""
        m = train.matrix
        self.train_ = m
        users_per_item = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float32)
        self.log_popularity_ = np.log1p(users_per_item)
        self.user_activity_ = np.log1p(np.diff(m.indptr)).astype(np.float32)
        self.last_seen_ = None
        if train.timestamp is not None:
            last = np.full(m.shape[1], np.nan, np.float64)
            np.fmax.at(last, train.item_index, train.timestamp.astype(np.float64))
            self.last_seen_ = last
            self.now_ = float(train.timestamp.max())
        ft = self.item_features
        self.bags_: dict[str, sp.csr_matrix] = {}
        self.groups_: dict[str, np.ndarray] = {}
        self.n_groups_: dict[str, int] = {}
        self.numeric_: dict[str, np.ndarray] = {}
        if ft is not None:
            for col in self.bag_columns:
                mat, _ = ft.multi_hot(col)
                norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1))).ravel()
                norms[norms == 0] = 1
                self.bags_[col] = sp.csr_matrix(sp.diags(1 / norms) @ mat, dtype=np.float32)
            for col in self.group_columns:
                self.groups_[col] = ft.categorical(col)[0]
                self.n_groups_[col] = int(self.groups_[col].max(initial=-1)) + 1
            for col in self.numeric_columns:
                self.numeric_[col] = ft.numeric(col).astype(np.float32)
            self.publish_ = (ft.numeric(self.publish_time_column).astype(np.float64)
                             if self.publish_time_column else None)
        else:
            self.publish_ = None
        self.counts_ = user_item_counts(train) if self.user_item_counts else None
        self.item_engaged_age_ = None
        if self.engaged_age:
            ts = train.timestamp if train.timestamp is not None else np.full(train.n_events, np.nan)
            self.item_engaged_age_ = engaged_age_days(train.item_index, train.item_index, ts, self.publish_,
                                                      m.shape[1])
        self.n_features_ = len(self.feature_names)
        return self

    @property
    def feature_names(self) -> list[str]:
        """Column names of :meth:`transform`'s output."""
        names = []
        for s in self.sources:
            names += [f"src_{s}_score", f"src_{s}_rank"]
        names += ["n_sources"]
        for n in self.scorers:
            names += [f"model_{n}", f"model_{n}_z", f"model_{n}_rank"]
        names += ["item_log_popularity", "user_log_activity", "item_days_since_last_seen"]
        if self.publish_time_column:
            names += ["item_age_days"]
        if self.engaged_age:
            names += ["item_engaged_age_days"]
        if self.user_item_counts:
            names += ["user_item_played", "user_item_log_count"]
        names += [f"item_{c}" for c in self.numeric_columns]
        names += [f"share_{c}" for c in self.group_columns]
        names += [f"match_{c}" for c in self.bag_columns]
        return names

    # -- transform ---------------------------------------------------------------------
    def transform(self, request: Request, candidates: Candidates) -> np.ndarray:
        """Feature matrix (len(candidates), len(feature_names)) for one request."""
        if not hasattr(self, "train_"):
            raise NotFittedError("FeatureAssembler is not fitted; call .fit(train_interactions) first")
        items = candidates.items
        n = items.size
        # one preallocated matrix filled column by column (no per-column arrays to stack)
        out = np.full((n, self.n_features_), np.nan, np.float32)
        j = self._fill_sources(out, candidates)
        hist_items, hist_w = history_row(request, self.train_)
        for model in self.scorers.values():
            raw = self._model_scores(model, request, items)
            out[:, j] = raw
            out[:, j + 1], out[:, j + 2] = _within_request(raw)
            j += 3
        out[:, j] = self.log_popularity_[items]
        out[:, j + 1] = self.user_activity_[request.user_index] if request.known_user else np.log1p(hist_items.size)
        now = request.now if request.now is not None else getattr(self, "now_", None)
        if self.last_seen_ is not None and now is not None:
            out[:, j + 2] = (now - self.last_seen_[items]) / 86400.0
        j += 3
        if self.publish_time_column:
            if now is not None:
                out[:, j] = (now - self.publish_[items]) / 86400.0
            j += 1
        if self.engaged_age:
            out[:, j] = self.item_engaged_age_[items]
            j += 1
        if self.user_item_counts:
            out[:, j:j + 2] = self._play_counts(request, items)
            j += 2
        for c in self.numeric_columns:
            out[:, j] = self.numeric_[c][items]
            j += 1
        self._fill_profiles(out, j, items, hist_items, hist_w)
        return out

    def _fill_sources(self, out: np.ndarray, candidates: Candidates) -> int:
        """Each source's (score, rank) columns and the number of sources listing the item; the next column."""
        j = 0
        n_sources = out[:, 2 * len(self.sources)]
        n_sources[:] = 0
        for s in self.sources:
            sc = candidates.source_scores.get(s)
            rk = candidates.source_ranks.get(s)
            if sc is not None:
                out[:, j] = sc
            if rk is not None:
                listed = rk >= 0
                np.copyto(out[:, j + 1], rk, where=listed)
                n_sources += listed
            j += 2
        return j + 1

    def _fill_profiles(self, out: np.ndarray, j: int, items: np.ndarray, hist_items: np.ndarray,
                       hist_w: np.ndarray) -> None:
        """From column ``j``: the history's share of each item's group, then bag similarity to the history."""
        for c in self.group_columns:
            codes = self.groups_[c]
            hc = codes[hist_items]
            hc = hc[hc >= 0]
            if hc.size:
                share = np.bincount(hc, minlength=self.n_groups_[c]).astype(np.float32) / hc.size
                ic = codes[items]
                out[:, j] = np.where(ic >= 0, share[np.maximum(ic, 0)], np.nan)
            j += 1
        for c in self.bag_columns:
            bag = self.bags_[c]
            if hist_items.size:
                profile = np.asarray(bag[hist_items].T @ hist_w).ravel()
                norm = np.linalg.norm(profile)
                profile = profile / norm if norm > 0 else profile
                out[:, j] = np.asarray(bag[items] @ profile).ravel()
            j += 1

    def _play_counts(self, request: Request, items: np.ndarray) -> np.ndarray:
        """(played at all, log1p plays) per item: logged events plus the request's history (one entry a play)."""
        n = history_counts(request.history, items)
        if request.known_user and request.user_index < self.counts_.shape[0]:
            n += np.asarray(self.counts_[request.user_index, items].toarray()).ravel()
        return np.stack([(n > 0).astype(np.float32), np.log1p(n)], axis=1)

    def _model_scores(self, model: Recommender, request: Request, items: np.ndarray) -> np.ndarray:
        if items.size == 0:
            return np.zeros(0, np.float32)
        try:
            scores = model.score_request(request, items, seen=self.train_)
        except NotImplementedError:  # a model that scores training users only
            scores = None
        if scores is None:
            return np.full(items.size, np.nan, np.float32)
        return scores
