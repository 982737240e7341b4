"""DeepFM as a ranking stage: the same interface as ``shortlist.ranking.LambdaMARTRanker``.

Each dense feature column of the candidate rows is one field. ``encoding="bucket"`` cuts
it at training quantiles (``n_bins`` buckets, one embedding each), ``"linear"`` z-scores
it and scales one embedding by the value; NaN always has its own embedding, so missing
features carry signal instead of crashing. The FM term then crosses every pair of
features and the MLP learns higher-order interactions. The loss is a listwise softmax
over each query's candidates (graded labels are normalized into a target distribution),
or pointwise log loss on ``label > 0`` with ``loss="bce"``. With ``valid``, training stops
early on NDCG@``eval_at`` and keeps the best epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from shortlist.errors import ConfigError, DataError, NotFittedError
from shortlist.models.persistence import read_model_dir, write_model_dir
from shortlist.neural.base import _check_float, _check_int, layer_widths
from shortlist.neural.fm import FMCore
from shortlist.neural.trainer import Trainer, resolve_device, seeded, torch_threads

__all__ = ["DeepFMRanker"]


class DeepFMRanker:
    """Learning-to-rank with DeepFM over candidate feature rows (one field per column)."""

    def __init__(self, *, factors: int = 8, hidden: list[int] = (64, 32), encoding: str = "bucket",
                 n_bins: int = 16, loss: str = "listwise", dropout: float = 0.0, epochs: int = 30,
                 batch_size: int = 64, learning_rate: float = 0.003, weight_decay: float = 0.0,
                 patience: int = 3, eval_at: int = 10, seed: int = 0, device: str = "auto",
                 num_threads: int | None = None) -> None:
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
        _check_int("factors", factors, 1, "8")
        layer_widths(hidden)
        _check_int("n_bins", n_bins, 2, "16")
        _check_int("epochs", epochs, 1, "30")
        _check_int("batch_size", batch_size, 1, "64 (queries per step)")
        _check_int("patience", patience, 1, "3")
        _check_int("eval_at", eval_at, 1, "10")
        _check_float("learning_rate", learning_rate, 0.0, 10.0, "0.003")
        _check_float("dropout", dropout, 0.0, 0.99, "0.1", open_low=False)
        if encoding not in ("bucket", "linear"):
            raise ConfigError(f"encoding={encoding!r} is not supported; use 'bucket' or 'linear'")
        if loss not in ("listwise", "bce"):
            raise ConfigError(f"loss={loss!r} is not supported; use 'listwise' or 'bce'")
        resolve_device(device)

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given."""
        return {k: getattr(self, k) for k in (
            "factors", "hidden", "encoding", "n_bins", "loss", "dropout", "epochs", "batch_size",
            "learning_rate", "weight_decay", "patience", "eval_at", "seed", "device", "num_threads")}

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
        return idx, val, np.broadcast_to(np.arange(f), (n, f)).copy()

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

            self.history_ = trainer.fit(self.module_, batches, loss_fn, rng=np.random.default_rng(self.seed),
                                        validate=validate, metric=f"ndcg@{self.eval_at}")
        self.module_.to("cpu")
        return self

    def _make_module(self) -> FMCore:
        size = sum(c["size"] for c in self.columns_)
        return FMCore(size, len(self.columns_), self.factors, layer_widths(self.hidden), self.dropout)

    def _ndcg(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
        s = self.score(x)
        k = self.eval_at
        out, start = [], 0
        for n in groups:
            sc, lab = s[start:start + n], y[start:start + n]
            start += n
            if lab.max(initial=0) <= 0:
                continue
            order = np.argsort(-sc, kind="stable")[:k]
            disc = 1.0 / np.log2(np.arange(2, order.size + 2))
            ideal = np.sort(lab)[::-1][:k]
            out.append(float(((2 ** lab[order] - 1) * disc).sum() / ((2 ** ideal - 1) * disc[: ideal.size]).sum()))
        return float(np.mean(out)) if out else 0.0

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
    def save(self, path: str | Path) -> Path:
        """Write a model folder (``model.json`` + ``arrays.npz``; no pickle)."""
        if not hasattr(self, "module_"):
            raise NotFittedError("the ranker is not trained; call fit(...) first")
        arrays = {f"module.{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        meta = {"class": "DeepFMRanker", "params": self.get_params(), "columns": self.columns_,
                "feature_names": self.feature_names_}
        return write_model_dir(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> DeepFMRanker:
        """Read a ranker written by :meth:`save` (``params`` override the saved ones)."""
        meta, arrays = read_model_dir(path)
        model = cls(**{**meta["params"], **params})
        model.columns_ = meta["columns"]
        model.feature_names_ = meta["feature_names"]
        model.module_ = model._make_module()
        model.module_.load_state_dict({k[7:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        model.module_.eval()
        return model


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
