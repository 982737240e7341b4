"""The model contract: :class:`Recommender` (factor models add to it in ``models/factor.py``).

Every model shares one life cycle: keyword-only hyperparameters stored as given ->
``fit(Interactions)`` -> ``recommend`` / ``score`` / ``similar_items`` -> ``save`` / ``load``.
Subclasses implement ``_fit`` and ``_score_block`` (and ``_state`` / ``_set_state`` for
what they learned); everything else - id mapping, excluding seen items, top-k, persistence -
lives here once (the batched top-k in ``models/batch_topk.py``, the result type
:class:`Recommendations` in ``models/recommendations.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shortlist.core.parameters import check_params
from shortlist.core.persistence import Part, read_part, write_part
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.models._kernels.topk import topk
from shortlist.models.batch_topk import blocked_topk
from shortlist.models.recommendations import Recommendations
from shortlist.models.requests import history_matrix, request_history
from shortlist.params import KeywordParams

__all__ = ["Recommender", "Recommendations", "check_k"]


def check_k(k: Any, name: str = "k") -> int:
    """Validate a list length."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {k!r}; ask for e.g. {name}=10")
    return int(k)


class Recommender(KeywordParams):
    """Base class of every model (see module docstring for the life cycle)."""

    #: registry name (CLI ``--model``); set by :func:`shortlist.models.registry.register`
    name: ClassVar[str] = ""
    #: the score a pipeline's blend weighs: ``"z"``, its within-request z-score (for scores
    #: whose scale differs from user to user), or ``"raw"`` (scores already on one scale)
    blend_feature: ClassVar[str] = "z"

    # -- hyperparameters ---------------------------------------------------------------
    def _validate_params(self) -> None:
        """Check the hyperparameters against their one declaration: the annotated keyword-only signature.

        Override only for checks that relate several parameters (call ``super()`` first).
        """
        check_params(self, f"model {self.name or type(self).__name__!r}")

    # -- fitting -----------------------------------------------------------------------
    def fit(self, data: Interactions, *, progress: bool | None = None) -> "Recommender":
        """Learn from ``data``; returns ``self``."""
        self._validate_params()
        if not isinstance(data, Interactions):
            raise DataError(
                f"fit expects shortlist.data.Interactions, got {type(data).__name__}; "
                "build one with Interactions.from_frame / from_file / from_matrix"
            )
        if data.nnz == 0:
            raise DataError("cannot fit on empty interactions (0 non-zero cells)")
        self.users_: Vocab = data.users
        self.items_: Vocab = data.items
        self.train_: sp.csr_matrix = data.matrix
        self._fit(data, progress=progress)
        return self

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        raise NotImplementedError

    def partial_fit(self, data: Interactions, *, progress: bool | None = None) -> "Recommender":
        """Add new interactions (new users and items allowed) and update the model.

        The default merges the events into the training matrix and refits; models with a
        cheaper incremental rule (e.g. fold-in for factor models) override
        :meth:`_partial_fit`.
        """
        self._check_fitted()
        users = self.users_.extend(data.users.ids)
        items = self.items_.extend(data.items.ids)
        new = Interactions(users, items, *self._merged_indices(data, users, items),
                           data.value, weighting=data.weighting, validate=False).matrix
        old = self.train_
        old = sp.csr_matrix((old.data, old.indices, old.indptr), shape=old.shape)
        old.resize((len(users), len(items)))
        merged = (old + new).tocsr()
        merged.sort_indices()
        touched_users = np.unique(new.nonzero()[0])
        self._partial_fit(merged, users, items, touched_users, progress=progress)
        return self

    @staticmethod
    def _merged_indices(data: Interactions, users: Vocab, items: Vocab) -> tuple[np.ndarray, np.ndarray]:
        """``data``'s user and item indices in the extended vocabularies of a partial fit."""
        return (users.index(data.users.lookup(data.user_index)),
                items.index(data.items.lookup(data.item_index)))

    def _partial_fit(self, merged: sp.csr_matrix, users: Vocab, items: Vocab,
                     touched_users: np.ndarray, *, progress: bool | None) -> None:
        coo = merged.tocoo()
        self.fit(Interactions(users, items, coo.row, coo.col, coo.data, weighting="value"),
                 progress=progress)

    def _check_fitted(self) -> None:
        if not hasattr(self, "train_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call .fit(interactions) or "
                f"{type(self).__name__}.load(path) first"
            )

    # -- scoring -----------------------------------------------------------------------
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        """Scores (len(user_idx), n_items or len(item_idx)) as float32 (override)."""
        raise NotImplementedError

    def score_indices(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        """Dense score matrix for user indices x item indices (all items when None)."""
        self._check_fitted()
        return np.asarray(self._score_block(np.asarray(user_idx, np.int64),
                                            None if item_idx is None else np.asarray(item_idx, np.int64)),
                          dtype=np.float32)

    def score(self, users: Any, items: Any) -> np.ndarray:
        """Scores for external user ids x external item ids."""
        self._check_fitted()
        return self.score_indices(self.users_.index(np.atleast_1d(users), what="user"),
                                  self.items_.index(np.atleast_1d(items), what="item"))

    def recommend_indices(
        self,
        user_idx: np.ndarray,
        k: int,
        *,
        exclude_seen: bool = True,
        items: np.ndarray | None = None,
        exclude: sp.csr_matrix | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for user indices (the fast, index-level API).

        ``items`` restricts the candidates to those item indices; ``exclude`` is an extra
        CSR (rows aligned with ``user_idx``) of items to drop besides the seen ones.
        """
        self._check_fitted()
        k = check_k(k)
        user_idx = np.asarray(user_idx, dtype=np.int64)
        n_cols = len(self.items_) if items is None else len(items)
        excl = self._exclusion(user_idx, exclude_seen, items, exclude)
        return blocked_topk(lambda start, stop: self.score_indices(user_idx[start:stop], items),
                            len(user_idx), n_cols, k, excl, items)

    def _exclusion(self, user_idx: np.ndarray, exclude_seen: bool, items: np.ndarray | None,
                   exclude: sp.csr_matrix | None) -> sp.csr_matrix:
        """CSR (rows = queries, columns = candidate positions) of entries to skip."""
        n_items = len(self.items_)
        excl = sp.csr_matrix((len(user_idx), n_items), dtype=np.float32)
        if exclude_seen:
            known = user_idx < self.train_.shape[0]
            rows = self.train_[np.where(known, user_idx, 0)]
            rows = sp.diags(known.astype(np.float32)) @ rows
            excl = excl + rows
        if exclude is not None:
            excl = excl + sp.csr_matrix(exclude, shape=(len(user_idx), n_items))
        excl = sp.csr_matrix(excl)
        if items is not None:
            excl = excl[:, np.asarray(items, np.int64)]
        excl.eliminate_zeros()
        excl.sort_indices()
        return excl

    def recommend(
        self, users: Any, k: int = 10, *, exclude_seen: bool = True, items: Any = None
    ) -> Recommendations:
        """Top-k items for one or many external user ids.

        ``items`` (external ids) restricts the candidates. Unknown user ids raise
        :class:`~shortlist.errors.UnknownIdError`; fold new users in first.
        """
        self._check_fitted()
        users_arr = np.atleast_1d(np.asarray(users))
        u_idx = self.users_.index(users_arr, what="user")
        i_idx = None if items is None else self.items_.index(np.atleast_1d(items), what="item")
        idx, sc = self.recommend_indices(u_idx, k, exclude_seen=exclude_seen, items=i_idx)
        return self._wrap(users_arr, idx, sc)

    def score_request(self, request: Any, items: np.ndarray | None = None, *,
                      seen: sp.csr_matrix | None = None, allow_empty: bool = False) -> np.ndarray | None:
        """Scores of ``items`` (default: all) for one request - the one public way to score one.

        A user the model learned, with no ``request.history``, gets the learned scores; any
        other request is scored from its history: the user's row of ``seen`` (default: the
        training matrix) plus ``request.history``, weight 1 per distinct item (fold-in for
        factor models). ``None`` when that history is empty (unless ``allow_empty``). Models
        that cannot score histories raise ``NotImplementedError``.
        """
        u = int(request.user_index)
        if 0 <= u < len(self.users_) and not len(request.history):
            return self.score_indices(np.array([u]), items)[0]
        hist = request_history(request, getattr(self, "train_", None) if seen is None else seen)
        if hist.size == 0 and not allow_empty:
            return None
        scores = np.asarray(self._score_history(history_matrix(hist, len(self.items_))), np.float32)[0]
        return scores if items is None else scores[np.asarray(items, np.int64)]

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores (n, n_items) for users given only by history rows (override)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot score users outside training; "
            "use a factor, neighbourhood or popularity model"
        )

    def recommend_from_history(
        self, history: sp.csr_matrix, k: int, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for users known only by their history.

        ``history`` is (n, n_items) over this model's item indices - the cold-start /
        anonymous path (fold-in for factor models).
        """
        self._check_fitted()
        k = check_k(k)
        history = sp.csr_matrix(history, dtype=np.float32)
        if history.shape[1] != len(self.items_):
            raise DataError(f"history must have {len(self.items_)} columns, got {history.shape[1]}")
        history.sort_indices()
        exclude = history if exclude_seen else sp.csr_matrix(history.shape, dtype=np.float32)
        return blocked_topk(lambda start, stop: self._score_history(history[start:stop]),
                            history.shape[0], len(self.items_), k, exclude, threads=False)

    def _wrap(self, queries: np.ndarray, idx: np.ndarray, sc: np.ndarray) -> Recommendations:
        ids = np.empty(idx.shape, dtype=object)
        ok = idx >= 0
        ids[ok] = self.items_.lookup(idx[ok])
        return Recommendations(queries, idx, ids, sc)

    # -- similarity --------------------------------------------------------------------
    def _item_similarity_block(self, item_idx: np.ndarray) -> np.ndarray:
        """Similarity of the given items to all items (override to enable similar_items)."""
        raise NotImplementedError(f"{type(self).__name__} does not define item similarity")

    def _user_similarity_block(self, user_idx: np.ndarray) -> np.ndarray:
        """Similarity of the given users to all users (override to enable similar_users)."""
        raise NotImplementedError(f"{type(self).__name__} does not define user similarity")

    def similar_items(self, items: Any, k: int = 10) -> Recommendations:
        """The k items most similar to each given item (itself excluded)."""
        self._check_fitted()
        k = check_k(k)
        q = np.atleast_1d(np.asarray(items))
        idx = self.items_.index(q, what="item")
        sim = np.ascontiguousarray(self._item_similarity_block(idx), np.float32)
        excl = sp.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), idx)), shape=sim.shape)
        top, sc = topk(sim, min(k, sim.shape[1]), excl.indptr.astype(np.int64), excl.indices.astype(np.int64))
        return self._wrap(q, top, sc)

    def similar_users(self, users: Any, k: int = 10) -> Recommendations:
        """The k users most similar to each given user (itself excluded); ids in ``item_ids``."""
        self._check_fitted()
        k = check_k(k)
        q = np.atleast_1d(np.asarray(users))
        idx = self.users_.index(q, what="user")
        sim = np.ascontiguousarray(self._user_similarity_block(idx), np.float32)
        excl = sp.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), idx)), shape=sim.shape)
        top, sc = topk(sim, min(k, sim.shape[1]), excl.indptr.astype(np.int64), excl.indices.astype(np.int64))
        ids = np.empty(top.shape, dtype=object)
        ids[top >= 0] = self.users_.lookup(top[top >= 0])
        return Recommendations(q, top, ids, sc)

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (override; the base adds vocabs and the train matrix)."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore learned arrays saved by :meth:`_state` (override)."""

    def to_part(self) -> Part:
        """The model as one saved part (meta + arrays), for :meth:`save` or a pipeline's folder."""
        self._check_fitted()
        from shortlist.core.version import __version__

        arrays = dict(self._state())
        arrays.update(self.users_.to_arrays("users"))
        arrays.update(self.items_.to_arrays("items"))
        t = self.train_
        arrays.update(train_data=t.data, train_indices=t.indices, train_indptr=t.indptr,
                      train_shape=np.asarray(t.shape, np.int64))
        meta = {"class": type(self).__name__, "name": self.name, "params": self.get_params(),
                "shortlist_version": __version__}
        return Part(meta, arrays)

    def save(self, path: str | Path) -> Path:
        """Save to folder ``path`` (``model.json`` + ``arrays.npz``; atomic, checksummed, no pickle)."""
        return write_part(path, self.to_part())

    @classmethod
    def load(cls, path: str | Path) -> "Recommender":
        """Load a model saved by :meth:`save` (``Recommender.load`` finds the right class)."""
        return cls.from_part(read_part(path), where=str(path))

    @classmethod
    def from_part(cls, part: Part, *, where: str = "the saved model") -> "Recommender":
        """Rebuild a model from the part written by :meth:`to_part`."""
        from shortlist.models.registry import model_class

        meta, arrays = part.meta, part.arrays
        klass = model_class(meta.get("name", ""))
        if cls is not Recommender and not issubclass(klass, cls):
            raise ModelFileError(f"{where} holds a {klass.__name__}, not a {cls.__name__}")
        try:
            model = klass(**meta["params"])
            model.users_ = Vocab.from_arrays(arrays, "users")
            model.items_ = Vocab.from_arrays(arrays, "items")
            model.train_ = sp.csr_matrix(
                (arrays["train_data"], arrays["train_indices"], arrays["train_indptr"]),
                shape=tuple(arrays["train_shape"]))
            model._set_state(arrays)
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"{where} is incomplete or from another version ({exc}); retrain") from exc
        return model
