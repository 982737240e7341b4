"""YouTube-style deep candidate generation (Covington et al., RecSys 2016): softmax over items.

A user tower reads the mean of the user's watch-history item embeddings, the user's
sparse and dense features (id optional) and maps them through ReLU layers; the last
hidden layer is the user embedding ``u``. The output layer is a softmax over the corpus
with weights ``W`` and bias ``b``: ``P(i | user) ∝ exp(u . W_i + b_i)``. Training
predicts each of the user's items from the rest of their history (the target is left out
of the input bag). ``negatives=0`` uses the full softmax (cheap for catalogs of a few
thousand items); otherwise a sampled softmax with ``negatives`` items drawn from the
unigram^0.75 distribution, logits corrected by ``-log Q`` (Jean et al. 2015).
``leave_target_out=False`` keeps the target in the bag (an autoencoder-like objective):
the network then cannot learn "the item missing from the bag", which with the default
makes a user's own items score lower once the whole history is the input.
``user_factors_ = [u, 1]`` and ``item_factors_ = [W, b]``: dot products give the logits,
ready for an ANN index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from shortlist.core.parameters import NonNegative, Positive, UnitInterval
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.models.factor import FactorModel
from shortlist.models.registry import register
from shortlist.neural.base import Dropout, HeldOut, Layers, NeuralMixin, mlp, pool_fields

__all__ = ["SoftmaxDNN"]


class _Net(nn.Module):
    def __init__(self, n_user_index: int, n_user_fields: int, n_items: int, factors: int,
                 hidden: list[int], dropout: float) -> None:
        super().__init__()
        k = factors
        self.nf = n_user_fields
        self.user_emb = nn.Embedding(max(n_user_index, 1), k)
        self.hist_emb = nn.Embedding(n_items + 1, k, padding_idx=0)
        for e in (self.user_emb, self.hist_emb):
            nn.init.normal_(e.weight, std=0.1)
        in_dim = n_user_fields * k + k
        # a linear last layer: the user embedding may take any sign, like the item weights
        self.tower = mlp(in_dim, hidden, dropout=dropout, last_activation=False)
        self.out_w = nn.Embedding(n_items, hidden[-1])
        nn.init.normal_(self.out_w.weight, std=0.01)
        self.out_b = nn.Parameter(torch.zeros(n_items))

    def user(self, idx, val, fld, hist_idx, hist_off, hist_len, drop=None):
        s = F.embedding_bag(hist_idx, self.hist_emb.weight, hist_off, mode="sum")
        n = hist_len.to(s.dtype)
        if drop is not None:  # predict the item from the rest of the history
            s = s - self.hist_emb(drop)
            n = n - 1
        parts = [s / n.clamp(min=1).unsqueeze(1)]
        if self.nf:
            parts.insert(0, pool_fields(self.user_emb, idx, val, fld, self.nf).flatten(1))
        return self.tower(torch.cat(parts, 1))


@register("softmax-dnn")
class SoftmaxDNN(NeuralMixin, FactorModel):
    """Deep softmax candidate generator over history + user features (last layer = embedding)."""

    def __init__(self, *, factors: Positive[int] = 64, hidden: Layers = (256, 64), use_user_id: bool = False,
                 negatives: NonNegative[int] = 0, leave_target_out: bool = True, dropout: Dropout = 0.0,
                 epochs: Positive[int] = 30, batch_size: Positive[int] = 512, learning_rate: Positive[float] = 0.002,
                 weight_decay: UnitInterval[float] = 0.0, validation_fraction: HeldOut = 0.1,
                 patience: Positive[int] = 3, seed: int = 0, device: str = "auto",
                 num_threads: Positive[int] | None = None) -> None:
        self.factors = factors
        self.hidden = list(hidden) if isinstance(hidden, tuple) else hidden
        self.use_user_id = use_user_id
        self.negatives = negatives
        self.leave_target_out = leave_target_out
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

    def _build(self, data: Interactions, user_table: FeatureTable | None, item_table: FeatureTable | None,
               fit_m: sp.csr_matrix) -> None:
        has_user_side = self.use_user_id or user_table is not None
        if has_user_side:
            self._encode_side("user", data, user_table, known=np.diff(fit_m.indptr) > 0,
                              use_id=bool(self.use_user_id))
            ue = self.encoder("user")
            self.config_.update(user_index=ue.n_index, user_fields=ue.n_fields)
        else:
            self.user_rows_ = None
            self.config_.update(user_index=0, user_fields=0)
        self.config_["n_items"] = len(self.items_)
        pop = np.bincount(fit_m.indices, minlength=fit_m.shape[1]).astype(np.float64) ** 0.75 + 1e-3
        self._sampling = pop / pop.sum()
        self.module_ = self._make_module()

    def _make_module(self) -> nn.Module:
        c = self.config_
        return _Net(c["user_index"], c["user_fields"], c["n_items"], self.factors, self._layers(), self.dropout)

    def _inputs(self, users: np.ndarray, m: sp.csr_matrix, rows: sp.csr_matrix | None = None) -> list[torch.Tensor]:
        if self.config_["user_fields"]:
            if rows is None:
                sel = self._tensor(np.asarray(users, np.int64))
                args = [a[sel] for a in self._side_tensors("user")]
            else:
                args = [self._tensor(a) for a in self._padded("user", rows)]
        else:
            z = self._tensor(np.zeros((len(users), 1), np.int64))
            args = [z, z.float(), z]
        sub = m[users]
        return args + [self._tensor(sub.indices.astype(np.int64) + 1), self._tensor(sub.indptr[:-1].astype(np.int64)),
                       self._tensor(np.diff(sub.indptr).astype(np.int64))]

    def _batches(self, fit_m: sp.csr_matrix, rng: np.random.Generator):
        users, items = self.positive_pairs(fit_m)
        self._fit_m = fit_m
        # a one-item history leaves an empty input when the target is left out
        keep = np.diff(fit_m.indptr)[users] > (1 if self.leave_target_out else 0)
        users, items = users[keep], items[keep]
        order = rng.permutation(users.size)
        for s in range(0, users.size, self.batch_size):
            b = order[s:s + self.batch_size]
            neg = None
            if 0 < self.negatives < fit_m.shape[1]:
                neg = rng.choice(fit_m.shape[1], size=self.negatives, p=self._sampling)
            yield b.size, (users[b], items[b], neg)

    def _loss(self, batch) -> torch.Tensor:
        users, items, neg = batch
        net = self.module_
        pos = self._tensor(items)
        u = net.user(*self._inputs(users, self._fit_m), drop=pos + 1 if self.leave_target_out else None)
        if neg is None:
            return F.cross_entropy(u @ net.out_w.weight.T + net.out_b, pos)
        negs = self._tensor(neg)
        log_q = torch.log(self._tensor(self._sampling.astype(np.float32)) * self.negatives)
        true = (u * net.out_w(pos)).sum(1) + net.out_b[pos] - log_q[pos]
        samp = u @ net.out_w(negs).T + net.out_b[negs] - log_q[negs]
        samp = samp.masked_fill(negs[None, :] == pos[:, None], float("-inf"))  # accidental hits
        logits = torch.cat([true.unsqueeze(1), samp], 1)
        return F.cross_entropy(logits, torch.zeros(len(items), dtype=torch.long, device=u.device))

    @torch.no_grad()
    def _user_vectors(self, users: np.ndarray, m: sp.csr_matrix, rows: sp.csr_matrix | None = None) -> np.ndarray:
        self.module_.eval()
        out = [np.zeros((0, self._layers()[-1] + 1), np.float32)]
        for s in range(0, len(users), 4096):
            b = np.asarray(users[s:s + 4096])
            r = None if rows is None else rows[s:s + 4096]
            u = self.module_.user(*self._inputs(b, m, r))
            out.append(torch.cat([u, torch.ones_like(u[:, :1])], 1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def _export(self, m: sp.csr_matrix) -> None:
        net = self.module_
        self.user_factors_ = self._user_vectors(np.arange(m.shape[0]), m)
        self.item_factors_ = torch.cat([net.out_w.weight, net.out_b.unsqueeze(1)], 1).detach().cpu().numpy()

    def fold_in_users(self, rows: sp.csr_matrix | Interactions) -> np.ndarray:
        """User embeddings from history rows alone (features missing), through the tower."""
        self._check_fitted()
        rows = self._as_rows(rows, axis="user")
        feat = None
        if self.config_["user_fields"]:
            feat = self.encoder("user").transform(np.full(rows.shape[0], -1), None,
                                                  known=np.zeros(rows.shape[0], bool))
        return self._user_vectors(np.arange(rows.shape[0]), rows, feat)
