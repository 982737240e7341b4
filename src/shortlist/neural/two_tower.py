"""Two-tower retrieval model (Yi et al., RecSys 2019) with in-batch negatives and logQ correction.

Each tower maps features to an embedding: the user tower reads the user's id, features and
the mean of their history's item embeddings; the item tower reads the item's id and
features. Training is a softmax over the batch's items (in-batch negatives) with logits
``<u, v> / temperature - log q(item)``, where ``q`` is the streaming estimate of how often
an item shows up in a batch (the paper's algorithm 2): popular items are over-represented
as negatives, and subtracting ``log q`` removes that sampling bias. Outputs are
L2-normalized (``similarity="cosine"``) or raw (``"dot"``). Item ids are dropped with
probability ``id_dropout`` during training so the tower also learns to embed an item from
its features alone: items never seen in training (cold start) get the "unknown id" slot.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from shortlist.core.parameters import Positive, UnitInterval, UnitOpen
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError
from shortlist.models.factor import FactorModel
from shortlist.models.registry import register
from shortlist.neural.base import Dropout, HeldOut, NeuralMixin, Widths, mlp, pool_fields

__all__ = ["FrequencyEstimator", "TwoTower", "corrected_logits"]


class FrequencyEstimator:
    """Streaming estimate of each item's probability of appearing in a batch (Yi et al. 2019).

    ``A[h]`` is the step an item was last seen, ``B[h]`` an exponential moving average of
    the gap between sightings; ``q = 1 / B``. The first sighting sets ``B`` to the steps
    elapsed since the start instead of averaging with an arbitrary initial value.
    """

    def __init__(self, n_buckets: int, alpha: float = 0.01) -> None:
        self.n_buckets = int(n_buckets)
        self.alpha = float(alpha)
        self.last = np.full(self.n_buckets, -1, np.int64)
        self.gap = np.zeros(self.n_buckets, np.float64)

    def update(self, items: np.ndarray, step: int) -> None:
        """Record that ``items`` appeared at ``step`` (duplicates count once)."""
        h = np.unique(np.asarray(items, np.int64) % self.n_buckets)
        first = self.last[h] < 0
        delta = step - np.where(first, -1, self.last[h])
        self.gap[h] = np.where(first, delta, (1 - self.alpha) * self.gap[h] + self.alpha * delta)
        self.last[h] = step

    def probability(self, items: np.ndarray) -> np.ndarray:
        """Estimated per-batch sampling probability ``q`` of ``items`` (1 for unseen)."""
        g = self.gap[np.asarray(items, np.int64) % self.n_buckets]
        return 1.0 / np.maximum(g, 1.0)


def corrected_logits(u: torch.Tensor, v: torch.Tensor, log_q: torch.Tensor | None,
                     temperature: float) -> torch.Tensor:
    """In-batch logits ``u v^T / temperature - log q`` (column j corrected by its item's q)."""
    logits = u @ v.T / temperature
    return logits if log_q is None else logits - log_q[None, :]


class _Towers(nn.Module):
    def __init__(self, cfg: dict[str, Any], factors: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        k = factors
        self.nu, self.ni = cfg["user_fields"], cfg["item_fields"]
        self.user_emb = nn.Embedding(cfg["user_index"], k)
        self.item_emb = nn.Embedding(cfg["item_index"], k)
        self.use_history = cfg["use_history"]
        self.hist_emb = nn.Embedding(cfg["n_items"] + 1, k, padding_idx=0) if self.use_history else None
        for e in (self.user_emb, self.item_emb):
            nn.init.normal_(e.weight, std=0.1)
        self.user_mlp = nn.Sequential(mlp(self.nu * k + (k if self.use_history else 0), hidden, dropout=dropout),
                                      nn.Linear(hidden[-1] if hidden else self.nu * k + (k if self.use_history else 0), k))
        self.item_mlp = nn.Sequential(mlp(self.ni * k, hidden, dropout=dropout),
                                      nn.Linear(hidden[-1] if hidden else self.ni * k, k))

    def user(self, idx, val, fld, hist_idx=None, hist_off=None, hist_len=None, drop=None):
        parts = [pool_fields(self.user_emb, idx, val, fld, self.nu).flatten(1)]
        if self.use_history:
            s = F.embedding_bag(hist_idx, self.hist_emb.weight, hist_off, mode="sum")
            n = hist_len.to(s.dtype)
            if drop is not None:  # leave the target item out of its own input bag
                s = s - self.hist_emb(drop) * (drop > 0).unsqueeze(1).to(s.dtype)
                n = n - (drop > 0).to(s.dtype)
            parts.append(s / n.clamp(min=1).unsqueeze(1))
        return self.user_mlp(torch.cat(parts, 1))

    def item(self, idx, val, fld):
        return self.item_mlp(pool_fields(self.item_emb, idx, val, fld, self.ni).flatten(1))

    def forward(self, user_args, item_args, drop=None):
        """Both towers on one batch: the call a DistributedDataParallel wrapper all-reduces after."""
        return self.user(*user_args, drop=drop), self.item(*item_args)


@register("two-tower")
class TwoTower(NeuralMixin, FactorModel):
    """Two-tower retrieval with in-batch softmax, logQ correction and feature-based towers.

    ``fit(data, user_features=..., item_features=...)``; ``user_factors_`` /
    ``item_factors_`` are the tower outputs (feed them to an ANN index).
    """

    def __init__(self, *, factors: Positive[int] = 32, hidden: Widths = (128,), temperature: Positive[float] = 0.1,
                 similarity: Literal["cosine", "dot"] = "cosine", logq_correction: bool = True,
                 id_dropout: UnitInterval[float] = 0.2, use_history: bool = True,
                 frequency_alpha: UnitOpen[float] = 0.01, dropout: Dropout = 0.0, epochs: Positive[int] = 30,
                 batch_size: Positive[int] = 128, learning_rate: Positive[float] = 0.003,
                 weight_decay: UnitInterval[float] = 0.0, validation_fraction: HeldOut = 0.1,
                 patience: Positive[int] = 3, seed: int = 0, device: str = "auto",
                 num_threads: Positive[int] | None = None) -> None:
        self.factors = factors
        self.hidden = list(hidden) if isinstance(hidden, tuple) else hidden
        self.temperature = temperature
        self.similarity = similarity
        self.logq_correction = logq_correction
        self.id_dropout = id_dropout
        self.use_history = use_history
        self.frequency_alpha = frequency_alpha
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.num_threads = num_threads

    # -- building ------------------------------------------------------------------------
    def _build(self, data: Interactions, user_table: FeatureTable | None, item_table: FeatureTable | None,
               fit_m: sp.csr_matrix) -> None:
        self._encode_side("user", data, user_table, known=np.diff(fit_m.indptr) > 0)
        self._encode_side("item", data, item_table, known=np.bincount(fit_m.indices, minlength=fit_m.shape[1]) > 0)
        ue, ie = self.encoder("user"), self.encoder("item")
        self.config_.update(user_index=ue.n_index, user_fields=ue.n_fields, item_index=ie.n_index,
                            item_fields=ie.n_fields, n_items=len(self.items_), use_history=bool(self.use_history))
        self.module_ = self._make_module()
        self.freq_ = FrequencyEstimator(len(self.items_), self.frequency_alpha)
        self._step = 0

    def _make_module(self) -> nn.Module:
        return _Towers(self.config_, self.factors, self._layers(), self.dropout)

    # -- training ------------------------------------------------------------------------
    def _history(self, m: sp.csr_matrix, users: np.ndarray) -> tuple[torch.Tensor, ...]:
        sub = m[users]
        idx = self._tensor(sub.indices.astype(np.int64) + 1)
        off = self._tensor(sub.indptr[:-1].astype(np.int64))
        return idx, off, self._tensor(np.diff(sub.indptr).astype(np.int64))

    def _user_inputs(self, users: np.ndarray, m: sp.csr_matrix | None, rows=None) -> list[torch.Tensor]:
        if rows is None:
            sel = self._tensor(np.asarray(users, np.int64))
            args = [a[sel] for a in self._side_tensors("user")]
        else:
            args = [self._tensor(a) for a in self._padded("user", rows)]
        if self.use_history:
            args += list(self._history(m, users))
        return args

    def _batches(self, fit_m: sp.csr_matrix, rng: np.random.Generator):
        users, items = self.positive_pairs(fit_m)
        self._fit_m = fit_m
        self._item_pad = self._side_tensors("item")
        order = rng.permutation(users.size)
        for s in range(0, users.size, self.batch_size):
            b = order[s:s + self.batch_size]
            if b.size < 2:
                continue
            yield b.size, (users[b], items[b], rng)

    def _loss(self, batch) -> torch.Tensor:
        users, items, rng = batch
        uargs = self._user_inputs(users, self._fit_m)
        idx, val, fld = (a[self._tensor(items)] for a in self._item_pad)
        if self.id_dropout > 0:
            # both towers learn the "unknown id" slot: new users and items are embedded with it
            uargs[0] = self._drop_ids(uargs[0], uargs[2], rng)
            idx = self._drop_ids(idx, fld, rng)
        u, v = self.module_(uargs, (idx, val, fld), self._tensor(items + 1) if self.use_history else None)
        if self.similarity == "cosine":
            u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
        log_q = None
        if self.logq_correction:
            self.freq_.update(items, self._step)
            log_q = self._tensor(np.log(self.freq_.probability(items)).astype(np.float32))
        self._step += 1
        logits = corrected_logits(u, v, log_q, self.temperature)
        it = self._tensor(items)
        dup = (it[None, :] == it[:, None]) & ~torch.eye(len(items), dtype=torch.bool, device=it.device)
        logits = logits.masked_fill(dup, float("-inf"))  # the same item is no negative for itself
        return F.cross_entropy(logits, torch.arange(len(items), device=it.device))

    def _drop_ids(self, idx: torch.Tensor, fld: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Send the id slot (field 0, global index 0 = unknown) of random rows to "unknown"."""
        drop = self._tensor(rng.random(idx.shape[0]) < self.id_dropout)
        return torch.where((fld == 0) & drop.unsqueeze(1), torch.zeros_like(idx), idx)

    # -- export --------------------------------------------------------------------------
    @torch.no_grad()
    def _embed_users(self, users: np.ndarray, m: sp.csr_matrix | None, rows=None) -> np.ndarray:
        self.module_.eval()
        out = []
        for s in range(0, len(users), 4096):
            b = np.asarray(users[s:s + 4096])
            r = None if rows is None else rows[s:s + 4096]
            u = self.module_.user(*self._user_inputs(b, m, r))
            out.append(self._finish(u))
        return np.concatenate(out) if out else np.zeros((0, self.factors), np.float32)

    @torch.no_grad()
    def _embed_items(self, rows: sp.csr_matrix | None = None) -> np.ndarray:
        self.module_.eval()
        pad = self._padded("item", rows)
        out = []
        for s in range(0, pad[0].shape[0], 4096):
            out.append(self._finish(self.module_.item(*(self._tensor(a[s:s + 4096]) for a in pad))))
        return np.concatenate(out)

    def _finish(self, x: torch.Tensor) -> np.ndarray:
        if self.similarity == "cosine":
            x = F.normalize(x, dim=1)
        return x.cpu().numpy().astype(np.float32)

    def _export(self, m: sp.csr_matrix) -> None:
        self.user_factors_ = self._embed_users(np.arange(m.shape[0]), m)
        self.item_factors_ = self._embed_items()

    # -- cold start ----------------------------------------------------------------------
    def embed_items(self, ids: Any, item_features: FeatureTable | None = None) -> np.ndarray:
        """Item-tower embeddings of items given by id and features (new items: features only)."""
        self._check_fitted()
        ids = np.atleast_1d(np.asarray(ids))
        rows = self.encoder("item").transform(ids, item_features, known=np.zeros(len(ids), bool))
        return self._embed_items(rows)

    def embed_users(self, user_features: FeatureTable | None = None, ids: Any = None,
                    history: sp.csr_matrix | None = None) -> np.ndarray:
        """User-tower embeddings of new users from features and a short history (n, n_items)."""
        self._check_fitted()
        if ids is None and history is None:
            raise ConfigError("embed_users needs ids (with user_features) or a history matrix")
        n = len(np.atleast_1d(ids)) if ids is not None else history.shape[0]
        ids = np.atleast_1d(np.asarray(ids)) if ids is not None else np.full(n, -1)
        rows = self.encoder("user").transform(ids, user_features, known=np.zeros(n, bool))
        hist = sp.csr_matrix((n, len(self.items_)), dtype=np.float32) if history is None else sp.csr_matrix(history)
        return self._embed_users(np.arange(n), hist, rows)

    def fold_in_users(self, rows: sp.csr_matrix | Interactions) -> np.ndarray:
        """User vectors from history rows alone, through the user tower."""
        self._check_fitted()
        return self.embed_users(history=self._as_rows(rows, axis="user"))

    def _after_load(self, arrays: dict[str, np.ndarray]) -> None:
        self.freq_ = FrequencyEstimator(len(self.items_), self.frequency_alpha)
