"""DeepFM as a ranking stage: the same interface as ``shortlist.ranking.LambdaMARTRanker``.

Each dense feature column of the candidate rows is one field. ``encoding="bucket"`` cuts
it at training quantiles (``n_bins`` buckets, one embedding each), ``"linear"`` z-scores
it and scales one embedding by the value; NaN always has its own embedding, so missing
features carry signal instead of crashing. The FM term then crosses every pair of
features and the MLP learns higher-order interactions. The loss is a listwise softmax
over each query's candidates (graded labels are normalized into a target distribution),
or pointwise log loss on ``label > 0`` with ``loss="bce"``. With ``valid``, training stops
early on NDCG@``eval_at`` and keeps the best epoch.

``base_feature`` names a column (e.g. the previous ranking stage's score) that becomes the
starting score, as in ``LambdaMARTRanker``: the ranker scores ``w * base + g * DeepFM(x)``
with ``w`` learned from ``base_scale`` and the gate ``g`` starting at zero (ReZero, Bachlechner
et al. 2020), so before training it ranks exactly like the base. Validation then also
scores that untrained state ("epoch 0"), and training only keeps an epoch that beats it by
``accept_z`` standard errors of the paired per-query NDCG gain (a small validation set is
noisy: a gain within the noise is not worth a model that may rank worse on new queries).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from shortlist.core.metrics import query_ndcg as _query_ndcg
from shortlist.core.parameters import NonNegative, Positive, UnitInterval, check_params
from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.neural.base import Dropout, Widths, pool_fields
from shortlist.neural.fm import FMCore
from shortlist.neural.trainer import Trainer, resolve_device, seeded, torch_threads

__all__ = ["DeepFMRanker"]


class DeepFMRanker:
    """Learning-to-rank with DeepFM over candidate feature rows (one field per column)."""

    def __init__(self, *, factors: Positive[int] = 8, hidden: Widths = (64, 32),
                 encoding: Literal["bucket", "linear"] = "bucket", n_bins: Annotated[int, Field(ge=2)] = 16,
                 loss: Literal["listwise", "bce"] = "listwise", dropout: Dropout = 0.0, epochs: Positive[int] = 30,
                 batch_size: Positive[int] = 64, learning_rate: Positive[float] = 0.003,
                 weight_decay: UnitInterval[float] = 0.0, patience: Positive[int] = 3, eval_at: Positive[int] = 10,
                 seed: int = 0, device: str = "auto", num_threads: Positive[int] | None = None,
                 base_feature: Annotated[str, Field(min_length=1)] | None = None,
                 base_scale: Positive[float] = 1.0, accept_z: NonNegative[float] = 2.0) -> None:
        self.factors = factors
        self.hidden = list(hidden) if isinstance(hidden, tuple) else hidden
        self.encoding = encoding
        self.n_bins = n_bins
        self.loss = loss
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.eval_at = eval_at
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.base_feature = base_feature
        self.base_scale = base_scale
        self.accept_z = accept_z
        check_params(self, "deepfm ranker")
        resolve_device(device)  # depends on the machine, not on the declaration

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given."""
        return {k: getattr(self, k) for k in (
            "factors", "hidden", "encoding", "n_bins", "loss", "dropout", "epochs", "batch_size",
            "learning_rate", "weight_decay", "patience", "eval_at", "seed", "device", "num_threads",
            "base_feature", "base_scale", "accept_z")}

    # -- encoding ------------------------------------------------------------------------
    def _fit_columns(self, x: np.ndarray) -> None:
        cols = []
        for j in range(x.shape[1]):
            v = x[:, j][np.isfinite(x[:, j])].astype(np.float64)
            if self.encoding == "bucket":
                qs = np.quantile(v, np.linspace(0, 1, self.n_bins + 1)[1:-1]) if v.size else np.zeros(0)
                edges = np.unique(qs).tolist()
                cols.append({"edges": edges, "size": len(edges) + 2})
            else:
                mean, std = (float(v.mean()), float(v.std())) if v.size else (0.0, 1.0)
                cols.append({"mean": mean, "std": std if std > 0 else 1.0, "size": 2})
        off = 0
        for c in cols:
            c["offset"] = off
            off += c["size"]
        self.columns_ = cols

    def _encode(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        n, f = x.shape
        idx = np.zeros((n, f), np.int64)
        val = np.ones((n, f), np.float32)
        for j, c in enumerate(self.columns_):
            col = x[:, j].astype(np.float64)
            nan = ~np.isfinite(col)
            if self.encoding == "bucket":
                b = np.searchsorted(np.asarray(c["edges"]), np.nan_to_num(col), side="right")
                idx[:, j] = c["offset"] + np.where(nan, c["size"] - 1, b)
            else:
                z = np.clip((np.nan_to_num(col) - c["mean"]) / c["std"], -5, 5)
                idx[:, j] = c["offset"] + nan
                val[:, j] = np.where(nan, 1.0, z)
        out = (idx, val, np.broadcast_to(np.arange(f), (n, f)).copy())
        return out if self.base_feature is None else (*out, self._base(x))

    def _base(self, x: np.ndarray) -> np.ndarray:
        """The base column as starting scores (NaN -> its lowest value, as LambdaMARTRanker)."""
        col = x[:, self.feature_names_.index(self.base_feature)].astype(np.float64)
        low = np.nanmin(col) if np.isfinite(col).any() else 0.0
        return np.nan_to_num(col, nan=low).astype(np.float32)

    def _check_x(self, features: Any, n_cols: int | None = None) -> np.ndarray:
        x = np.asarray(features, np.float32)
        if x.ndim != 2 or (n_cols is not None and x.shape[1] != n_cols):
            raise DataError(f"ranker expects a 2-D array with {n_cols or 'some'} feature columns, got shape {x.shape}")
        if np.isinf(x).any():
            raise DataError("ranker features contain infinite values; clip them or replace them with NaN")
        return x

    # -- training ------------------------------------------------------------------------
    def fit(self, features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
            valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
            feature_names: Sequence[str] | None = None) -> DeepFMRanker:
        """Train on rows grouped by query (``groups`` = rows per query, in order)."""
        x, y, groups = self._check_fit_data(features, labels, groups, feature_names)
        self._fit_columns(x)
        with seeded(int(self.seed)), torch_threads(self.num_threads):
            dev = resolve_device(self.device)
            self.module_ = self._make_module().to(dev)
            data = [torch.from_numpy(a).to(dev) for a in self._encode(x)]
            yt = torch.from_numpy(y).to(dev)
            starts = np.r_[0, np.cumsum(groups)[:-1]]
            trainer = Trainer(epochs=self.epochs, learning_rate=self.learning_rate,
                              weight_decay=self.weight_decay, patience=self.patience, device=dev,
                              progress=False, desc="DeepFMRanker")
            validate = None
            if valid is not None and np.asarray(valid[0]).shape[0] > 0:
                vx, vy, vg = valid
                vx = self._check_x(vx, x.shape[1])
                validate = lambda: self._ndcg(vx, np.asarray(vy), np.asarray(vg, np.int64))

            def batches(rng: np.random.Generator):
                order = rng.permutation(len(groups))
                for s in range(0, len(order), self.batch_size):
                    g = order[s:s + self.batch_size]
                    lens = groups[g]
                    rows = np.repeat(starts[g] - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(lens.sum())
                    yield int(lens.sum()), (torch.from_numpy(rows).to(dev), torch.from_numpy(lens).to(dev))

            def loss_fn(batch) -> torch.Tensor:
                rows, lens = batch
                s = self.module_(*(a[rows] for a in data))
                target = yt[rows]
                if self.loss == "bce":
                    return F.binary_cross_entropy_with_logits(s, (target > 0).float())
                return _listwise(s, target, lens)

            # epoch 0 = the base alone (zero gate): a residual ranker must beat it to be kept
            start = None
            if validate is not None and self.base_feature is not None:
                self.module_.eval()
                start = (self._ndcg_per_query(vx, np.asarray(vy), np.asarray(vg, np.int64)),
                         {k: v.detach().clone() for k, v in self.module_.state_dict().items()})
            self.history_ = trainer.fit(self.module_, batches, loss_fn, rng=np.random.default_rng(self.seed),
                                        validate=validate, metric=f"ndcg@{self.eval_at}")
            self.base_valid_ = None if start is None else float(start[0].mean()) if start[0].size else 0.0
            if start is not None and not self._beats(start[0], vx, vy, vg):
                self.module_.load_state_dict(start[1])
                self.history_.best_epoch = -1  # no epoch beat the base: keep it unchanged
        self.module_.to("cpu")
        return self

    def _check_fit_data(self, features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                        feature_names: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, groups) as arrays, checked against each other; sets ``feature_names_``."""
        x = self._check_x(features)
        y = np.asarray(labels, np.float32)
        groups = np.asarray(groups, np.int64)
        if x.shape[0] != y.shape[0] or groups.sum() != x.shape[0]:
            raise DataError(f"ranker data mismatch: {x.shape[0]} rows, {y.shape[0]} labels, "
                            f"groups sum to {int(groups.sum())}")
        if y.max(initial=0) <= 0:
            raise DataError("ranker labels are all zero: no positive candidate to learn from; "
                            "raise the candidate quotas or the label window")
        self.feature_names_ = list(feature_names) if feature_names else [f"f{i}" for i in range(x.shape[1])]
        if self.base_feature is not None and self.base_feature not in self.feature_names_:
            raise ConfigError(f"base_feature={self.base_feature!r} is not a feature; "
                              f"available: {', '.join(self.feature_names_)}")
        return x, y, groups

    def _make_module(self) -> torch.nn.Module:
        size = sum(c["size"] for c in self.columns_)
        core = FMCore(size, len(self.columns_), self.factors, [int(h) for h in self.hidden], self.dropout)
        return core if self.base_feature is None else _Residual(core, self.base_scale)

    def _beats(self, base: np.ndarray, vx: np.ndarray, vy: Any, vg: Any) -> bool:
        """Whether the trained model's validation gain over the base is ``accept_z`` s.e. or more."""
        gain = self._ndcg_per_query(vx, np.asarray(vy), np.asarray(vg, np.int64)) - base
        if gain.size == 0 or gain.mean() <= 0:
            return False
        se = gain.std(ddof=1) / np.sqrt(gain.size) if gain.size > 1 else 0.0
        return bool(gain.mean() >= self.accept_z * se)

    def _ndcg(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
        out = _query_ndcg(self.score(x), y, groups, self.eval_at)
        return float(out.mean()) if out.size else 0.0

    def _ndcg_per_query(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
        return _query_ndcg(self.score(x), y, groups, self.eval_at)

    # -- scoring -------------------------------------------------------------------------
    def score(self, features: np.ndarray) -> np.ndarray:
        """One score per row (higher = better)."""
        if not hasattr(self, "module_"):
            raise NotFittedError("the ranker is not trained; call fit(...) or load(...) first")
        x = self._check_x(features, len(self.feature_names_))
        if x.shape[0] == 0:
            return np.zeros(0, np.float32)
        dev = next(self.module_.parameters()).device
        with torch.no_grad():
            return self.module_(*(torch.from_numpy(a).to(dev) for a in self._encode(x))).cpu().numpy().astype(np.float32)

    # -- persistence ---------------------------------------------------------------------
    def to_part(self) -> Part:
        """The ranker as one saved part (module weights as arrays, columns in meta)."""
        if not hasattr(self, "module_"):
            raise NotFittedError("the ranker is not trained; call fit(...) first")
        arrays = {f"module.{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        meta = {"class": "DeepFMRanker", "params": self.get_params(), "columns": self.columns_,
                "feature_names": self.feature_names_}
        return Part(meta, arrays)

    def save(self, path: str | Path) -> Path:
        """Write a model folder (``model.json`` + ``arrays.npz``; atomic, checksummed, no pickle)."""
        return write_part(path, self.to_part())

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> DeepFMRanker:
        """Read a ranker written by :meth:`save` (``params`` override the saved ones)."""
        return cls.from_part(read_part(path), **params)

    @classmethod
    def from_part(cls, part: Part, **params: Any) -> DeepFMRanker:
        """Rebuild a ranker from the part written by :meth:`to_part`."""
        meta, arrays = part.meta, part.arrays
        try:
            model = cls(**{**meta["params"], **params})
            model.columns_ = meta["columns"]
            model.feature_names_ = meta["feature_names"]
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"saved DeepFM ranker is incomplete or from another version ({exc}); retrain") from None
        model.module_ = model._make_module()
        model.module_.load_state_dict({k[7:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        model.module_.eval()
        return model


class _Residual(torch.nn.Module):
    """``w * base`` plus a DeepFM correction that is exactly zero before training.

    The correction's linear term and bias start at zero already; the MLP's output layer is
    zero-initialised (its gradient, the hidden activations, is not zero, so it learns at
    once); the order-2 term, whose embeddings the MLP shares and so cannot be zero, is scaled
    by a gate that starts at zero (ReZero, Bachlechner et al. 2020).
    """

    def __init__(self, core: FMCore, base_scale: float) -> None:
        super().__init__()
        self.core = core
        torch.nn.init.zeros_(core.deep[-1].weight)
        torch.nn.init.zeros_(core.deep[-1].bias)
        self.base_weight = torch.nn.Parameter(torch.tensor([float(base_scale)]))
        self.gate = torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx: torch.Tensor, val: torch.Tensor, fld: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        c = self.core
        v = c.emb(idx) * val.unsqueeze(-1)
        s = v.sum(1)
        pair = 0.5 * (s * s - (v * v).sum(1)).sum(1)
        deep = c.deep(pool_fields(c.emb, idx, val, fld, c.n_fields).flatten(1)).squeeze(1)
        return self.base_weight * base + c.bias + (c.lin(idx).squeeze(-1) * val).sum(1) + self.gate * pair + deep


def _listwise(s: torch.Tensor, y: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy per query against labels normalized to a distribution."""
    g = len(lens)
    gi = torch.repeat_interleave(torch.arange(g, device=s.device), lens)
    pos = torch.arange(len(s), device=s.device) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)
    width = int(lens.max())
    S = torch.full((g, width), float("-inf"), device=s.device).index_put((gi, pos), s)
    Y = torch.zeros((g, width), device=s.device).index_put((gi, pos), y.clamp(min=0))
    tot = Y.sum(1, keepdim=True)
    keep = tot.squeeze(1) > 0
    if not bool(keep.any()):
        return s.sum() * 0.0
    logp = torch.log_softmax(S[keep], 1)
    p = Y[keep] / tot[keep]
    return -torch.where(p > 0, p * logp, torch.zeros_like(logp)).sum(1).mean()
