"""The candidate-source contract and the vectorized helpers every source shares.

A source is registered with ``@SOURCES.register("kind")`` and declares its parameters once,
in a pydantic ``Config`` attached to the class: ``Source(**params)`` validates them there
(errors name the key, the value and the fix) and stores each as an attribute;
``fit(context)`` precomputes everything that does not depend on the request (sorted lists,
neighbour tables, TF-IDF matrices, ANN indexes), and ``source(request, candidates)`` answers
one request with array operations only - no Python loop over items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pydantic
import scipy.sparse as sp

from shortlist.core.registry import Registry
from shortlist.core.validation import config_error as _config_error
from shortlist.data.facts import Need
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, DataError, NotFittedError
from shortlist.params import KeywordParams
from shortlist.retrieval._kernels import select_candidates
from shortlist.retrieval.types import Candidates, Request

__all__ = ["SOURCES", "CandidateSource", "RecentItems", "SourceConfig", "SourceContext", "config_error"]

#: source kinds -> classes (``[[sources]] kind = ...``); built-ins register on first lookup
SOURCES = Registry("source kind", builtins="shortlist.retrieval.sources")


@dataclass
class SourceContext:
    """What sources are fitted from: training interactions, fitted models, features, social graph.

    ``models`` maps a name (as written in the pipeline spec, e.g. ``"als"``) to a fitted
    :class:`~shortlist.models.Recommender` sharing the interactions' vocabularies.
    """

    interactions: Interactions
    models: dict[str, Any] = field(default_factory=dict)
    item_features: FeatureTable | None = None
    user_features: FeatureTable | None = None
    social: sp.csr_matrix | None = None
    #: expensive fitted values (neighbour tables, ANN indexes) recorded or read back (see store.py)
    store: Any = None

    def cached(self, source: str, key: str, compute: Any) -> Any:
        """``compute()`` for source ``source``'s value ``key``, through the store when there is one."""
        return compute() if self.store is None else self.store.get(source, key, compute)

    @classmethod
    def from_dataset(cls, dataset: Any, models: dict[str, Any] | None = None,
                     interactions: Interactions | None = None, store: Any = None) -> SourceContext:
        """Context from a :class:`~shortlist.data.Dataset` (``interactions`` overrides, e.g. a train split)."""
        data = dataset.interactions if interactions is None else interactions
        return cls(data, dict(models or {}), dataset.item_features,
                   dataset.user_features, dataset.social, store)

    def model(self, name: str | None, *, source: str) -> Any:
        """The fitted model called ``name`` (``None`` -> ``None``)."""
        if name is None:
            return None
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(
                f"source {source!r}: model={name!r} is not among the fitted models ({known}); "
                "fit it and pass it in the context's models")
        return self.models[name]


class SourceConfig(pydantic.BaseModel):
    """Parameters every source shares; subclasses add their own (unknown keys are errors)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    quota: int = pydantic.Field(default=200, gt=0)
    exclude_seen: bool = True


def config_error(kind: str, exc: pydantic.ValidationError, config: type[pydantic.BaseModel] | None = None,
                 params: dict[str, Any] | None = None) -> ConfigError:
    """One readable :class:`ConfigError` from a pydantic error: key, value received, fix.

    The wording is the project's (:func:`shortlist.core.validation.config_error`); ``config``
    is the source's ``Config`` model (valid keys, "did you mean"), ``params`` the values given.
    """
    return _config_error(exc, f"source {kind!r}", config, params, docs="docs/retrieval.md")


class CandidateSource(KeywordParams):
    """Base class: ``name``, ``quota``, ``fit(context)``, ``source(request, candidates) -> Candidates``."""

    #: registry name of the source kind (``[[sources]] kind = ...``)
    kind: ClassVar[str] = ""
    #: pydantic model validating the keyword-only parameters
    Config: ClassVar[type[SourceConfig]] = SourceConfig

    @classmethod
    def needs(cls, config: dict[str, Any]) -> list[Need]:
        """What this source needs from the data with ``config`` (checked before fitting)."""
        return []

    # -- parameters: declared once, in ``Config`` -----------------------------------------
    def __init__(self, **params: Any) -> None:
        for key, value in self.validate_params(params).items():
            setattr(self, key, value)

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked by ``Config``, defaults filled in (errors name key, value and fix)."""
        try:
            return cls.Config(**params).model_dump()
        except pydantic.ValidationError as exc:
            raise config_error(cls.kind, exc, cls.Config, dict(params)) from None

    @classmethod
    def _param_names(cls) -> list[str]:
        return list(cls.Config.model_fields)

    def _validate_params(self) -> None:
        self.validate_params(self.get_params())  # attributes may have been set after __init__

    @property
    def source_name(self) -> str:
        """Name used in ``Candidates.source_scores`` (``name`` or the kind)."""
        return self.name or self.kind

    # -- life cycle ----------------------------------------------------------------------
    def fit(self, context: SourceContext) -> CandidateSource:
        """Precompute from the training data and models; returns ``self``."""
        self._validate_params()
        if not isinstance(context, SourceContext):
            raise DataError(f"fit expects a SourceContext, got {type(context).__name__}")
        data = context.interactions
        self.n_items_ = data.n_items
        self.n_users_ = data.n_users
        self.seen_ = data.matrix
        self._fit(context)
        return self

    def _fit(self, context: SourceContext) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "seen_"):
            raise NotFittedError(f"source {self.source_name!r} is not fitted; call .fit(context) first")

    def __call__(self, request: Request, candidates: Candidates | None = None, *, k: int | None = None,
                 exclude: np.ndarray | None = None) -> Candidates:
        """This source's candidates for ``request``: at most ``k`` (default ``quota``), best first.

        The shared component call, ``source(request, candidates)``: ``candidates`` (what was
        proposed so far) is accepted for the common contract; a source proposes on its own
        and the pipeline merges. Excluded: ``request.exclusions`` when a pipeline set them
        (computed once per request), else ``request.exclude`` + seen items + history;
        ``exclude`` adds item indices to drop.
        """
        self._check_fitted()
        if candidates is not None and not isinstance(candidates, Candidates):
            raise ConfigError(f"source(request, candidates): candidates={candidates!r} is not Candidates; "
                              f"pass k={candidates!r} by keyword")
        n = self.quota if k is None else k
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ConfigError(f"k must be a positive integer, got {k!r}; e.g. k=100")
        if request.exclusions is not None:
            excluded = request.exclusions.for_source(self.exclude_seen)
        else:
            excluded = self.excluded(request)
        if exclude is not None and np.size(exclude):
            excluded = unique_sorted(np.concatenate((excluded, np.asarray(exclude, np.int64).ravel())))
        return self.generate_excluding(request, int(n), excluded)

    def generate_excluding(self, request: Request, k: int, excluded: np.ndarray) -> Candidates:
        """At most ``k`` candidates, none in ``excluded``: a sorted, unique int64 array that
        already holds everything this request excludes (a pipeline computes it once for all
        its sources: seen items, history and ``request.exclude``)."""
        self._check_fitted()
        items, scores = self._generate(request, k, excluded)
        return self._candidates(items, scores, excluded, k)

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw (items, scores), any order, possibly with excluded or surplus items (override)."""
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------
    def excluded(self, request: Request) -> np.ndarray:
        """Sorted unique item indices a request must not get: ``exclude`` + seen items + history."""
        parts = [np.asarray(request.exclude, np.int64).ravel()]
        if self.exclude_seen:
            parts.append(np.asarray(request.history, np.int64).ravel())
            u = request.user_index
            if 0 <= u < self.seen_.shape[0]:
                m = self.seen_
                parts.append(m.indices[m.indptr[u]:m.indptr[u + 1]].astype(np.int64))
        return unique_sorted(np.concatenate(parts))

    def _candidates(self, items: np.ndarray, scores: np.ndarray, excluded: np.ndarray,
                    k: int) -> Candidates:
        """Valid, non-excluded items (``_generate`` gives them unique), best ``k`` first."""
        items, scores = select_candidates(np.asarray(items, np.int64), np.asarray(scores, np.float32),
                                          excluded, self.n_items_, k)
        out = Candidates(items, scores)
        name = self.source_name
        out.source_scores[name] = out.scores.copy()
        out.source_ranks[name] = np.arange(len(out), dtype=np.int64)
        return out


class RecentItems:
    """Each user's most recent distinct items, newest first (by timestamp, else by weight).

    Stored as CSR-like arrays: the items of user ``u`` are ``items[indptr[u]:indptr[u+1]]``.
    """

    def __init__(self, data: Interactions, per_user: int) -> None:
        m = data.matrix.tocoo()
        users, items = m.row.astype(np.int64), m.col.astype(np.int64)
        if data.timestamp is not None and data.n_events:
            # newest event time per (user, item) cell
            key = data.user_index.astype(np.int64) * data.n_items + data.item_index
            order = np.lexsort((-data.timestamp, key))
            key_s = key[order]
            first = np.ones(key_s.size, bool)
            first[1:] = key_s[1:] != key_s[:-1]
            cell_key, cell_t = key_s[first], data.timestamp[order][first].astype(np.float64)
            pos = np.searchsorted(cell_key, users * data.n_items + items)
            pos = np.minimum(pos, cell_key.size - 1)
            ok = cell_key[pos] == users * data.n_items + items
            recency = np.where(ok, cell_t[pos], -np.inf)
        else:
            recency = m.data.astype(np.float64)
        order = np.lexsort((items, -recency, users))
        users, items = users[order], items[order]
        counts = np.bincount(users, minlength=data.n_users)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(users.size) - starts[users]
        keep = rank < per_user
        self.items = items[keep]
        self.indptr = np.concatenate(([0], np.cumsum(np.minimum(counts, per_user)))).astype(np.int64)

    def of(self, user: int) -> np.ndarray:
        """Recent items of one user, newest first."""
        if not 0 <= user < self.indptr.size - 1:
            return np.zeros(0, np.int64)
        return self.items[self.indptr[user]:self.indptr[user + 1]]


def request_recent(request: Request, recent: RecentItems, n: int) -> np.ndarray:
    """The request's newest ``n`` distinct items: its own history (newest last) then stored ones."""
    hist = np.asarray(request.history, np.int64).ravel()[::-1]
    seq = np.concatenate((hist, recent.of(request.user_index)))
    if seq.size == 0:
        return seq
    order = np.argsort(seq, kind="stable")
    s = seq[order]
    first = np.ones(s.size, bool)
    first[1:] = s[1:] != s[:-1]
    return seq[np.sort(order[first])][:n]


def gather_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray | None,
                rows: np.ndarray, row_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated (columns, weight * value) of the given CSR rows, without a Python loop."""
    rows = np.asarray(rows, np.int64)
    starts, stops = indptr[rows], indptr[rows + 1]
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    pos = np.arange(total) + offsets
    w = np.repeat(np.asarray(row_weights, np.float64), lengths)
    if data is not None:
        w = w * data[pos]
    return indices[pos].astype(np.int64), w


def unique_sorted(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: faster than ``np.unique``'s hashing on small arrays)."""
    s = np.sort(a)
    if s.size < 2:
        return s
    keep = np.empty(s.size, bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, position of each element of ``a`` among them)."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    first = np.ones(s.size, bool)
    first[1:] = s[1:] != s[:-1]
    inv = np.empty(a.size, np.int64)
    inv[order] = np.cumsum(first) - 1
    return s[first], inv


def aggregate(items: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``weights`` per distinct item."""
    if items.size == 0:
        return items, weights.astype(np.float32)
    uniq, inv = unique_inverse(items)
    return uniq, np.bincount(inv, weights=weights, minlength=uniq.size).astype(np.float32)


def top_unexcluded(order: np.ndarray, scores: np.ndarray, excluded: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``k`` items of a precomputed best-first ``order`` that are not excluded."""
    head = order[: k + excluded.size]
    if excluded.size:
        head = head[~np.isin(head, excluded)]
    head = head[:k]
    return head, scores[head]
