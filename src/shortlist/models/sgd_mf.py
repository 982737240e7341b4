"""Matrix factorization trained by Hogwild SGD with a pluggable loss (BPR, WARP, MSE, logistic).

One engine, :class:`SGDMF`, and four fixed-loss presets registered for the CLI: ``bpr``
(:class:`BPR`), ``warp`` (:class:`WARP`), ``mf-mse`` (:class:`WeightedMSEMF`) and
``mf-logistic`` (:class:`LogisticMF`); the generic engine is ``sgd-mf``. See
``docs/sgd_mf.md`` for the objectives, sampling and the chosen hyperparameters.
"""

from __future__ import annotations

import inspect
import time
from typing import Annotated, Any, Literal

import numba
import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from shortlist.core.metrics import ranking_metrics
from shortlist.core.parameters import NonNegative, Positive
from shortlist.data.interactions import Interactions
from shortlist.data.splits import random_holdout
from shortlist.errors import ConfigError
from shortlist.models._kernels import sgd as kern
from shortlist.models._kernels.topk import topk_rows
from shortlist.models.factor import FactorModel
from shortlist.models.registry import register

__all__ = ["BPR", "LOSSES", "SCHEDULES", "SGDMF", "WARP", "LogisticMF", "WeightedMSEMF"]

LOSSES = {"bpr": kern.LOSS_BPR, "warp": kern.LOSS_WARP, "mse": kern.LOSS_MSE,
          "logistic": kern.LOSS_LOGISTIC}
SCHEDULES = ("adagrad", "constant", "cosine")
_CHUNK = 512  # positives per parallel chunk: enough work per task, many tasks per thread


@register("sgd-mf")
class SGDMF(FactorModel):
    """Matrix factorization by parallel SGD on a ranking or pointwise implicit-feedback loss.

    Scores are ``U_u . V_i + b_i`` (item bias when ``use_bias``); the bias is stored as an
    extra factor column so every :class:`FactorModel` tool (ANN retrieval, fold-in) sees
    one dot product.
    """

    def __init__(
        self,
        *,
        loss: Literal["bpr", "warp", "mse", "logistic"] = "bpr",
        factors: Positive[int] = 64,
        epochs: Positive[int] = 30,
        learning_rate: Positive[float] = 0.05,
        schedule: Literal["adagrad", "constant", "cosine"] = "adagrad",
        user_regularization: NonNegative[float] = 1e-5,
        item_regularization: NonNegative[float] = 1e-5,
        use_bias: bool = True,
        negatives: Positive[int] = 4,
        w0: NonNegative[float] = 0.05,
        max_sampled: Positive[int] = 100,
        validation_fraction: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0,
        patience: Positive[int] = 3,
        validation_k: Positive[int] = 10,
        random_state: int | None = 0,
        num_threads: NonNegative[int] = 0,
        progress: bool | None = None,
    ) -> None:
        self.loss = loss
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.user_regularization = user_regularization
        self.item_regularization = item_regularization
        self.use_bias = use_bias
        self.negatives = negatives
        self.w0 = w0
        self.max_sampled = max_sampled
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.validation_k = validation_k
        self.random_state = random_state
        self.num_threads = num_threads
        self.progress = progress

    # -- training ----------------------------------------------------------------------
    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        progress = self.progress if progress is None else progress
        rng = np.random.default_rng(self.random_state)
        train, valid = self._validation_split(data, rng)
        n_users, n_items = train.shape
        U, V, b, gU, gV, gb = _initial_factors(n_users, n_items, int(self.factors), rng)

        pos_user = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(train.indptr))
        pos_item = train.indices.astype(np.int32)
        pos_weight = train.data.astype(np.float32)
        indptr, indices = train.indptr.astype(np.int64), train.indices.astype(np.int32)
        n_pos = pos_user.size
        n_unobserved = n_users * n_items - n_pos
        neg_weight = float(self.w0) * n_unobserved / max(1, n_pos * int(self.negatives))

        threads = min(int(self.num_threads) or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS)
        previous = numba.get_num_threads()
        self.history_: list[float] = []
        self.epoch_loss_: list[float] = []
        self.epoch_seconds_: list[float] = []
        self.best_epoch_ = int(self.epochs)
        best = (-np.inf, None)
        waited = 0
        bar = tqdm(range(int(self.epochs)), desc=f"{self.name or 'sgd-mf'} epochs", unit="epoch",
                   disable=(not progress) if progress is not None else None, leave=False)
        try:
            numba.set_num_threads(threads)
            for epoch in bar:
                order = rng.permutation(n_pos).astype(np.int64)
                seeds = rng.integers(1, 2**63 - 1, size=max(1, -(-n_pos // _CHUNK)), dtype=np.uint64)
                t0 = time.perf_counter()
                with threadpool_limits(1, user_api="blas"):
                    losses = kern.sgd_epoch(
                        LOSSES[self.loss], order, pos_user, pos_item, pos_weight, indptr, indices,
                        U, V, b, gU, gV, gb, self._epoch_lr(epoch), float(self.user_regularization),
                        float(self.item_regularization), bool(self.use_bias),
                        self.schedule == "adagrad", int(self.negatives), int(self.max_sampled),
                        neg_weight, seeds, _CHUNK)
                self.epoch_seconds_.append(time.perf_counter() - t0)
                self.epoch_loss_.append(float(losses.sum()) / max(1, n_pos))
                if valid is None:
                    continue
                score = self._validation_ndcg(U, V, b, train, valid)
                self.history_.append(score)
                bar.set_postfix(ndcg=f"{score:.4f}")
                if score > best[0]:
                    best, waited = (score, (U.copy(), V.copy(), b.copy())), 0
                    self.best_epoch_ = epoch + 1
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        finally:
            numba.set_num_threads(previous)
            bar.close()
        if best[1] is not None:
            U, V, b = best[1]
        self._set_factors(U, V, b)

    def _validation_split(self, data: Interactions,
                          rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """(training matrix, held-out matrix or None) for early stopping on ``validation_fraction``."""
        train, valid = data.matrix, None
        if self.validation_fraction > 0:
            split = random_holdout(data, self.validation_fraction, seed=int(rng.integers(2**31)))
            train, valid = split.train.matrix, split.test.matrix
            if valid.nnz == 0:
                raise ConfigError(
                    f"validation_fraction={self.validation_fraction} holds out nothing: no user "
                    "has 2 or more items; use validation_fraction=0 (train on everything)")
        train = sp.csr_matrix(train, dtype=np.float32)
        train.sort_indices()
        return train, valid

    def _epoch_lr(self, epoch: int) -> float:
        """Step size of ``epoch`` (0-based): AdaGrad and constant keep it, cosine anneals it."""
        if self.schedule == "cosine":
            return float(self.learning_rate) * 0.5 * (1.0 + np.cos(np.pi * epoch / int(self.epochs)))
        return float(self.learning_rate)

    def _validation_ndcg(self, U: np.ndarray, V: np.ndarray, b: np.ndarray,
                         train: sp.csr_matrix, valid: sp.csr_matrix) -> float:
        """Mean ndcg@validation_k on the held-out cells, training items excluded."""
        users = np.flatnonzero(np.diff(valid.indptr) > 0)
        k = min(int(self.validation_k), V.shape[0])
        tops = []
        step = max(1, 4_000_000 // max(1, V.shape[0]))
        for s in range(0, users.size, step):
            blk = users[s:s + step]
            scores = np.ascontiguousarray(U[blk] @ V.T + b[None, :], np.float32)
            ex = train[blk]
            top, _ = topk_rows(scores, k, ex.indptr.astype(np.int64), ex.indices.astype(np.int64))
            tops.append(top)
        top = np.concatenate(tops) if tops else np.zeros((0, k), np.int64)
        return float(np.nanmean(ranking_metrics(top, valid[users], k)["ndcg"]))

    def _set_factors(self, U: np.ndarray, V: np.ndarray, b: np.ndarray) -> None:
        if self.use_bias:
            U = np.hstack([U, np.ones((U.shape[0], 1), np.float32)])
            V = np.hstack([V, b[:, None]])
        self.user_factors_ = np.ascontiguousarray(U, np.float32)
        self.item_factors_ = np.ascontiguousarray(V, np.float32)

    @property
    def item_biases_(self) -> np.ndarray:
        """Learned item biases (zeros when ``use_bias`` is off)."""
        self._check_fitted()
        if self.use_bias:
            return self.item_factors_[:, -1]
        return np.zeros(self.item_factors_.shape[0], np.float32)

    # -- cold start --------------------------------------------------------------------
    def fold_in_users(self, rows: sp.csr_matrix | Interactions) -> np.ndarray:
        """User vectors for history rows with items fixed; the bias column stays 1."""
        if not self.use_bias:
            return super().fold_in_users(rows)
        self._check_fitted()
        rows = self._as_rows(rows, axis="user")
        V, b = self.item_factors_[:, :-1].astype(np.float64), self.item_factors_[:, -1]
        reg, f = self.fold_in_regularization, V.shape[1]
        out = np.zeros((rows.shape[0], f + 1), np.float32)
        out[:, -1] = 1.0
        for r in range(rows.shape[0]):
            s, e = rows.indptr[r], rows.indptr[r + 1]
            if s == e:
                continue
            y, w = V[rows.indices[s:e]], rows.data[s:e].astype(np.float64)
            target = 1.0 - b[rows.indices[s:e]]  # the bias already explains part of the score
            out[r, :-1] = np.linalg.solve((y * w[:, None]).T @ y + reg * np.eye(f), (y * w[:, None]).T @ target)
        return out


def _fixed_loss(loss: str, **preset: Any):
    """Class decorator: a subclass of SGDMF whose loss is fixed and whose defaults are ``preset``."""

    def deco(cls: type) -> type:
        base = inspect.signature(SGDMF.__init__)
        params = [p.replace(default=preset.get(n, p.default)) for n, p in base.parameters.items()
                  if n != "loss"]
        defaults = {p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY}

        def __init__(self, **kwargs: Any) -> None:
            if "loss" in kwargs:
                raise ConfigError(f"{cls.__name__} always uses loss={loss!r}; for loss={kwargs['loss']!r} "
                                  f"use SGDMF(loss=...) or the matching preset")
            unknown = set(kwargs) - set(defaults)
            if unknown:
                raise ConfigError(f"{cls.__name__} has no parameter(s) {sorted(unknown)}; "
                                  f"its parameters are: {', '.join(defaults)}")
            SGDMF.__init__(self, loss=loss, **{**defaults, **kwargs})

        __init__.__signature__ = base.replace(parameters=params)  # type: ignore[attr-defined]
        __init__.__doc__ = f"Keyword-only hyperparameters of :class:`SGDMF`, loss fixed to {loss!r}."
        cls.__init__ = __init__  # type: ignore[misc]
        return register(cls._registry_name, **preset)(cls)

    return deco


# Presets chosen on a validation split of the ml-100k training part (docs/sgd_mf.md).
_BPR_PRESET = {"factors": 64, "epochs": 38, "learning_rate": 0.05, "user_regularization": 1e-4,
                   "item_regularization": 1e-4, "use_bias": False}
_WARP_PRESET = {"factors": 64, "epochs": 56, "learning_rate": 0.02, "user_regularization": 0.0,
                    "item_regularization": 0.0, "use_bias": False, "max_sampled": 100}


@_fixed_loss("bpr", **_BPR_PRESET)
class BPR(SGDMF):
    """Bayesian personalized ranking (Rendle et al. 2009): one sampled negative per positive."""

    _registry_name = "bpr"


@_fixed_loss("warp", **_WARP_PRESET)
class WARP(SGDMF):
    """Weighted approximate-rank pairwise loss (Weston et al. 2011, as in LightFM)."""

    _registry_name = "warp"


@_fixed_loss("mse", epochs=20, learning_rate=0.02, negatives=4, w0=0.5)
class WeightedMSEMF(SGDMF):
    """Weighted squared error: observed cells to 1 with weight w_ij, unobserved to 0 with w0."""

    _registry_name = "mf-mse"


@_fixed_loss("logistic", epochs=13, learning_rate=0.05, negatives=8)
class LogisticMF(SGDMF):
    """Logistic loss: observed cells are positives, sampled unobserved cells negatives."""

    _registry_name = "mf-logistic"


def _initial_factors(n_users: int, n_items: int, f: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """LightFM's init: small uniform factors, zero biases, AdaGrad accumulators at 1 (U, V, b, gU, gV, gb)."""
    U = ((rng.random((n_users, f), dtype=np.float32) - 0.5) / f).astype(np.float32)
    V = ((rng.random((n_items, f), dtype=np.float32) - 0.5) / f).astype(np.float32)
    b = np.zeros(n_items, np.float32)
    return U, V, b, np.ones_like(U), np.ones_like(V), np.ones((n_items, 1), np.float32)
