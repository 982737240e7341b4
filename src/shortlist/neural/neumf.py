"""Neural Collaborative Filtering: NeuMF = GMF + MLP (He et al., WWW 2017).

GMF multiplies user and item embeddings element-wise; the MLP reads their concatenation;
the two branches are concatenated and mapped to one logit. Trained on positives and
``negatives`` sampled items per positive (pointwise log loss, as in the paper, or BPR).
With ``pretrain_epochs > 0`` GMF and MLP are first trained alone and NeuMF starts from
their weights, the output layer mixing them with ``alpha`` (the paper's recipe).
NeuMF is ids-only, as in the paper: it ignores feature tables.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from shortlist.core.parameters import NonNegative, Positive, UnitInterval
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.models.base import Recommender
from shortlist.models.registry import register
from shortlist.neural.base import HeldOut, Layers, NeuralMixin, SampledNegativesMixin, mlp
from shortlist.neural.trainer import Trainer, TrainHistory

__all__ = ["NeuMF"]


class _NCF(nn.Module):
    """GMF, MLP or both (``mode``), sharing nothing between the branches."""

    def __init__(self, n_users: int, n_items: int, factors: int, hidden: list[int], mode: str) -> None:
        super().__init__()
        self.mode = mode
        out = 0
        if mode in ("gmf", "neumf"):
            self.gmf_u, self.gmf_i = nn.Embedding(n_users, factors), nn.Embedding(n_items, factors)
            out += factors
        if mode in ("mlp", "neumf"):
            half = max(hidden[0] // 2, 1)
            self.mlp_u, self.mlp_i = nn.Embedding(n_users, half), nn.Embedding(n_items, half)
            self.mlp = mlp(2 * half, hidden[1:]) if len(hidden) > 1 else nn.Identity()
            out += hidden[-1] if len(hidden) > 1 else 2 * half
        for m in self.modules():
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.01)
        self.out = nn.Linear(out, 1)

    def forward(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.mode in ("gmf", "neumf"):
            parts.append(self.gmf_u(u) * self.gmf_i(i))
        if self.mode in ("mlp", "neumf"):
            parts.append(self.mlp(torch.cat([self.mlp_u(u), self.mlp_i(i)], 1)))
        return self.out(torch.cat(parts, 1)).squeeze(1)


@register("neumf")
class NeuMF(NeuralMixin, SampledNegativesMixin, Recommender):
    """NeuMF with optional GMF/MLP pre-training; ``hidden[0]`` is the MLP input width."""

    uses_features = False

    def __init__(self, *, factors: Positive[int] = 32, hidden: Layers = (64, 32, 16), negatives: Positive[int] = 4,
                 loss: Literal["bce", "bpr"] = "bce", pretrain_epochs: NonNegative[int] = 0,
                 alpha: UnitInterval[float] = 0.5, epochs: Positive[int] = 20, batch_size: Positive[int] = 1024,
                 learning_rate: Positive[float] = 0.002, weight_decay: UnitInterval[float] = 0.0,
                 validation_fraction: HeldOut = 0.1, patience: Positive[int] = 3, seed: int = 0,
                 device: str = "auto", num_threads: Positive[int] | None = None) -> None:
        self.factors = factors
        self.hidden = list(hidden) if isinstance(hidden, tuple) else hidden
        self.negatives = negatives
        self.loss = loss
        self.pretrain_epochs = pretrain_epochs
        self.alpha = alpha
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
        self.config_.update(n_users=len(self.users_), n_items=len(self.items_))
        self.module_ = self._make_module()

    def _make_module(self, mode: str = "neumf") -> nn.Module:
        return _NCF(self.config_["n_users"], self.config_["n_items"], self.factors, self._layers(), mode)

    def _pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.module_(users, items)

    def _train(self, trainer: Trainer, fit_m: sp.csr_matrix, rng: np.random.Generator, validate) -> TrainHistory:
        # the branches train for a fixed number of epochs: validation scores the full NeuMF
        if self.pretrain_epochs > 0:
            final = self.module_
            pre = Trainer(epochs=self.pretrain_epochs, learning_rate=trainer.learning_rate,
                          weight_decay=trainer.weight_decay, patience=trainer.patience,
                          device=trainer.device, progress=trainer.progress, desc="pretrain")
            branches = {}
            for mode in ("gmf", "mlp"):
                self.module_ = self._make_module(mode).to(self.device_)
                pre.fit(self.module_, lambda r: self._batches(fit_m, r), self._loss, rng=rng)
                branches[mode] = self.module_
            self.module_ = final
            self._init_from(branches["gmf"], branches["mlp"])
        return super()._train(trainer, fit_m, rng, validate)

    @torch.no_grad()
    def _init_from(self, gmf: _NCF, mlp_: _NCF) -> None:
        """NeuMF weights from pre-trained branches; output layer = alpha * GMF + (1-alpha) * MLP."""
        m, a = self.module_, self.alpha
        m.gmf_u.weight.copy_(gmf.gmf_u.weight)
        m.gmf_i.weight.copy_(gmf.gmf_i.weight)
        m.mlp_u.weight.copy_(mlp_.mlp_u.weight)
        m.mlp_i.weight.copy_(mlp_.mlp_i.weight)
        m.mlp.load_state_dict(mlp_.mlp.state_dict())
        m.out.weight.copy_(torch.cat([a * gmf.out.weight, (1 - a) * mlp_.out.weight], 1))
        m.out.bias.copy_(a * gmf.out.bias + (1 - a) * mlp_.out.bias)

    def _export(self, m: sp.csr_matrix) -> None:
        """Nothing to precompute: scoring reads the embeddings directly."""

    @torch.no_grad()
    def _score_block(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        m = self.module_
        dev = m.out.weight.device
        u = torch.from_numpy(np.asarray(user_idx, np.int64)).to(dev)
        i = (torch.arange(m.gmf_i.num_embeddings, device=dev) if item_idx is None
             else torch.from_numpy(np.asarray(item_idx, np.int64)).to(dev))
        f = self.factors
        w = m.out.weight[0]
        # GMF is linear in the item embedding: one matrix product for the whole block
        score = m.gmf_u(u) @ (m.gmf_i(i) * w[:f]).T + m.out.bias
        # the MLP's first layer splits into a user part and an item part (broadcast add)
        layers = list(m.mlp.children()) if isinstance(m.mlp, nn.Sequential) else []
        pu, pi = m.mlp_u(u), m.mlp_i(i)
        if layers:
            first, rest = layers[0], nn.Sequential(*layers[1:])
            half = pu.shape[1]
            hu = pu @ first.weight[:, :half].T + first.bias
            hi = pi @ first.weight[:, half:].T
        else:
            rest = None
        step = max(1, 4_000_000 // max(len(i) * (hi.shape[1] if layers else 2 * pu.shape[1]), 1))
        out = []
        for s in range(0, len(u), step):
            if layers:
                h = rest(hu[s:s + step, None, :] + hi[None, :, :])
            else:
                b = pu[s:s + step].shape[0]
                h = torch.cat([pu[s:s + step, None, :].expand(b, len(i), -1),
                               pi[None].expand(b, -1, -1)], 2)
            out.append(h @ w[f:])
        return (score + torch.cat(out)).cpu().numpy().astype(np.float32)
