"""Factorization Machines (Rendle 2010) and DeepFM (Guo et al. 2017) over user and item fields.

Input rows are libFM-style ``(index, value, field)`` slots (see ``encoding``): the user's
id and features, then the item's. The order-2 FM term uses the O(kn) identity
``sum_{i<j} <v_i, v_j> x_i x_j = 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2]``.
DeepFM shares the embeddings between the FM term and an MLP over the per-field pooled
vectors. Because user and item slots are disjoint, the FM score splits into
``<s_u, s_i> + c_u + c_i``: :class:`FM` is a factor model whose ``user_factors_`` /
``item_factors_`` (with two extra columns for the constants) feed an ANN index exactly.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from shortlist.core.parameters import Positive, UnitInterval
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.models.base import Recommender
from shortlist.models.factor import FactorModel
from shortlist.models.registry import register
from shortlist.neural.base import Dropout, HeldOut, NeuralMixin, SampledNegativesMixin, Widths, mlp, pool_fields

__all__ = ["FM", "DeepFM", "FMCore", "naive_pairwise"]


class FMCore(nn.Module):
    """FM (bias + linear + order-2 term) with an optional deep part over pooled fields."""

    def __init__(self, n_index: int, n_fields: int, factors: int, hidden: list[int] | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.n_fields = n_fields
        self.emb = nn.Embedding(n_index, factors)
        nn.init.normal_(self.emb.weight, std=0.01)
        self.lin = nn.Embedding(n_index, 1)
        nn.init.zeros_(self.lin.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        self.deep = None
        if hidden is not None:
            self.deep = nn.Sequential(*mlp(n_fields * factors, hidden, dropout=dropout),
                                      nn.Linear(hidden[-1] if hidden else n_fields * factors, 1))

    def fm(self, idx: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
        """bias + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j, in O(k n)."""
        v = self.emb(idx) * val.unsqueeze(-1)
        s = v.sum(1)
        pair = 0.5 * (s * s - (v * v).sum(1)).sum(1)
        return self.bias + (self.lin(idx).squeeze(-1) * val).sum(1) + pair

    def forward(self, idx: torch.Tensor, val: torch.Tensor, fld: torch.Tensor) -> torch.Tensor:
        out = self.fm(idx, val)
        if self.deep is not None:
            out = out + self.deep(pool_fields(self.emb, idx, val, fld, self.n_fields).flatten(1)).squeeze(1)
        return out


def naive_pairwise(emb: torch.Tensor, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Reference order-2 term ``sum_{i<j} <v_i, v_j> x_i x_j`` by explicit double loop."""
    w = emb.detach().cpu().numpy().astype(np.float64)
    out = np.zeros(idx.shape[0])
    for r in range(idx.shape[0]):
        for a in range(idx.shape[1]):
            for b in range(a + 1, idx.shape[1]):
                out[r] += w[idx[r, a]] @ w[idx[r, b]] * val[r, a] * val[r, b]
    return out


class _FMBase(NeuralMixin, SampledNegativesMixin):
    """Shared by FM and DeepFM: user + item slots in one index space."""

    deep = False

    def __init__(self, *, factors: Positive[int] = 32, hidden: Widths = (64, 32), dropout: Dropout = 0.0,
                 negatives: Positive[int] = 4, loss: Literal["bpr", "bce"] = "bpr", epochs: Positive[int] = 20,
                 batch_size: Positive[int] = 1024, learning_rate: Positive[float] = 0.002,
                 weight_decay: UnitInterval[float] = 0.0, validation_fraction: HeldOut = 0.1,
                 patience: Positive[int] = 3, seed: int = 0, device: str = "auto",
                 num_threads: Positive[int] | None = None) -> None:
        self.factors = factors
        self.hidden = list(hidden) if isinstance(hidden, tuple) else hidden
        self.dropout = dropout
        self.negatives = negatives
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.num_threads = num_threads

    def _build(self, data: Interactions, user_table: FeatureTable | None, item_table: FeatureTable | None,
               fit_m: sp.csr_matrix) -> None:
        self._encode_side("user", data, user_table, known=np.diff(fit_m.indptr) > 0)
        self._encode_side("item", data, item_table,
                          known=np.bincount(fit_m.indices, minlength=fit_m.shape[1]) > 0)
        ue, ie = self.encoder("user"), self.encoder("item")
        self.config_.update(user_index=ue.n_index, user_fields=ue.n_fields,
                            item_index=ie.n_index, item_fields=ie.n_fields)
        self.module_ = self._make_module()

    def _make_module(self) -> nn.Module:
        c = self.config_
        return FMCore(c["user_index"] + c["item_index"], c["user_fields"] + c["item_fields"], self.factors,
                      self._layers() if self.deep else None, self.dropout)

    def _slots(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Concatenated user + item slots (item indices and fields shifted past the user's)."""
        ui, uv, uf = (a[users] for a in self._side_tensors("user"))
        ii, iv, if_ = (a[items] for a in self._side_tensors("item"))
        c = self.config_
        return (torch.cat([ui, ii + c["user_index"]], 1), torch.cat([uv, iv], 1),
                torch.cat([uf, if_ + c["user_fields"]], 1))

    def _pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.module_(*self._slots(users, items))

    @torch.no_grad()
    def _side_parts(self, side: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per entity: summed embedding s, constant c (linear + own pairs), pooled fields."""
        idx, val, fld = self._side_tensors(side)
        c = self.config_
        if side == "item":
            idx, fld = idx + c["user_index"], fld + c["user_fields"]
        m = self.module_
        v = m.emb(idx) * val.unsqueeze(-1)
        s = v.sum(1)
        const = 0.5 * (s * s - (v * v).sum(1)).sum(1) + (m.lin(idx).squeeze(-1) * val).sum(1)
        pooled = pool_fields(m.emb, idx, val, fld, m.n_fields)
        own = slice(0, c["user_fields"]) if side == "user" else slice(c["user_fields"], m.n_fields)
        return s, const, pooled[:, own].flatten(1)


@register("fm")
class FM(_FMBase, FactorModel):
    """Order-2 factorization machine over user id + features and item id + features.

    ``fit(data, user_features=..., item_features=...)``; trained with sampled negatives
    (``loss="bpr"`` or ``"bce"``). Scores equal the FM output; ``user_factors_`` /
    ``item_factors_`` hold ``[s, c, 1]`` / ``[s, 1, c]`` so a dot product gives it exactly.
    """

    def _export(self, m: sp.csr_matrix) -> None:
        su, cu, _ = self._side_parts("user")
        si, ci, _ = self._side_parts("item")
        b = self.module_.bias.detach()
        one_u, one_i = torch.ones_like(cu), torch.ones_like(ci)
        self.user_factors_ = torch.cat([su, (cu + b).unsqueeze(1), one_u.unsqueeze(1)], 1).cpu().numpy()
        self.item_factors_ = torch.cat([si, one_i.unsqueeze(1), ci.unsqueeze(1)], 1).cpu().numpy()


@register("deepfm")
class DeepFM(_FMBase, Recommender):
    """DeepFM: FM term + MLP over the shared field embeddings (user, item fields).

    Scoring all items splits the MLP's first layer into a user part and an item part, so
    a user x items block costs one broadcast add instead of re-embedding every pair.
    """

    deep = True

    def _export(self, m: sp.csr_matrix) -> None:
        su, cu, pu = self._side_parts("user")
        si, ci, pi = self._side_parts("item")
        first = self.module_.deep[0]
        nu = pu.shape[1]
        w = first.weight.detach()
        self._parts = {"su": su, "cu": cu + self.module_.bias.detach(), "si": si, "ci": ci,
                       "hu": pu @ w[:, :nu].T + first.bias.detach(), "hi": pi @ w[:, nu:].T}

    @torch.no_grad()
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        if not hasattr(self, "_parts"):
            self._export(self.train_)
        p = self._parts
        u = torch.from_numpy(np.asarray(user_idx, np.int64)).to(p["su"].device)
        i = (torch.arange(p["si"].shape[0], device=u.device) if item_idx is None
             else torch.from_numpy(np.asarray(item_idx, np.int64)).to(u.device))
        fm = p["su"][u] @ p["si"][i].T + p["cu"][u, None] + p["ci"][None, i]
        rest = self.module_.deep[1:]
        hi = p["hi"][i]
        step = max(1, 4_000_000 // max(hi.shape[0] * hi.shape[1], 1))
        out = []
        for s in range(0, len(u), step):
            h = p["hu"][u[s:s + step], None, :] + hi[None, :, :]
            out.append(rest(h).squeeze(-1))
        deep = torch.cat(out) if out else fm[:0]
        return (fm + deep).cpu().numpy().astype(np.float32)

    def _after_load(self, arrays) -> None:
        self._export(self.train_)
