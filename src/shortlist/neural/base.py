"""What every neural recommender shares: features in ``fit``, validation, seeds, persistence.

:class:`NeuralMixin` goes before :class:`~shortlist.models.base.Recommender` (or
``FactorModel``) in the bases. Subclasses implement ``_build`` (encoders + module),
``_batches`` / ``_loss`` (training), ``_export`` (arrays used for scoring, computed from the
module) and ``_score_block``. Models are saved through the project's model folder
(``model.json`` + ``arrays.npz``, checksummed, no pickle): the module's ``state_dict`` is
stored as plain arrays next to a JSON config from which the module is rebuilt.
Parameters are declared once, in each model's annotated keyword-only signature (the
shorthands below join those of ``shortlist.core.parameters``), and checked by the model
contract before fitting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from shortlist.core.metrics import ranking_metrics
from shortlist.core.parameters import Positive
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.errors import DataError
from shortlist.models._kernels.topk import topk
from shortlist.neural.encoding import FieldEncoder, padded
from shortlist.neural.trainer import (
    Trainer,
    TrainHistory,
    plot_learning_curve,
    resolve_device,
    seeded,
    torch_threads,
)

__all__ = ["Dropout", "HeldOut", "Layers", "NeuralMixin", "Widths", "array_json", "json_array", "mlp", "pool_fields"]

_VALID_USERS = 1000  # users scored per validation pass: enough for a stable NDCG, still fast


def json_array(obj: Any) -> np.ndarray:
    """A JSON document as a uint8 array (stored inside the checksummed npz)."""
    return np.frombuffer(json.dumps(obj).encode(), np.uint8).copy()


def array_json(arr: np.ndarray) -> Any:
    """Inverse of :func:`json_array`."""
    return json.loads(bytes(np.asarray(arr, np.uint8)).decode())


def mlp(in_dim: int, hidden: list[int], *, dropout: float = 0.0, last_activation: bool = True) -> nn.Sequential:
    """Dense layers with ReLU (and dropout) between them."""
    layers: list[nn.Module] = []
    d = in_dim
    for i, h in enumerate(hidden):
        layers.append(nn.Linear(d, int(h)))
        if i < len(hidden) - 1 or last_activation:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        d = int(h)
    return nn.Sequential(*layers)


def pool_fields(emb: nn.Embedding, idx: torch.Tensor, val: torch.Tensor, fld: torch.Tensor,
                n_fields: int) -> torch.Tensor:
    """Per-field weighted sums of embeddings: (b, L) slots -> (b, n_fields, k)."""
    e = emb(idx) * val.unsqueeze(-1)
    out = torch.zeros(idx.shape[0], n_fields, e.shape[-1], dtype=e.dtype, device=e.device)
    return out.scatter_add(1, fld.unsqueeze(-1).expand(-1, -1, e.shape[-1]), e)


#: layer widths, e.g. ``[64, 32]`` (``--param hidden=64,32`` on the command line)
Widths = list[Positive[int]]
#: layer widths with at least one layer (the last is the embedding or the MLP input)
Layers = Annotated[list[Positive[int]], Field(min_length=1)]
#: a dropout probability, in [0, 1)
Dropout = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
#: the share of each user's cells held out for early stopping, in [0, 0.5)
HeldOut = Annotated[float, Field(ge=0, lt=0.5, allow_inf_nan=False)]


class NeuralMixin:
    """Training, validation and persistence shared by the PyTorch recommenders."""

    #: True: ``fit`` accepts ``user_features=`` / ``item_features=`` FeatureTables
    uses_features = True

    # -- parameters --------------------------------------------------------------------
    def _validate_params(self) -> None:
        """The declared constraints (the model's annotated signature), then whether the device exists."""
        super()._validate_params()
        resolve_device(self.device)  # depends on the machine, not on the declaration

    def _layers(self) -> list[int]:
        """``hidden`` as a list of ints (checked against its declaration before fitting)."""
        return [int(h) for h in self.hidden]

    # -- fitting -----------------------------------------------------------------------
    def fit(self, data: Interactions, *, user_features: FeatureTable | None = None,
            item_features: FeatureTable | None = None, progress: bool | None = None):
        """Learn from ``data`` and, where given, user and item FeatureTables; returns ``self``."""
        for name, t in (("user_features", user_features), ("item_features", item_features)):
            if t is not None and not isinstance(t, FeatureTable):
                raise DataError(f"{name} must be a shortlist.data.FeatureTable, got {type(t).__name__}")
        self._tables = (user_features, item_features)
        try:
            return super().fit(data, progress=progress)
        finally:
            del self._tables

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        user_table, item_table = self._tables
        with seeded(int(self.seed)), torch_threads(self.num_threads):
            self.device_ = resolve_device(self.device)
            rng = np.random.default_rng(self.seed)
            fit_m, valid_m = self._carve_validation(self.train_, rng)
            self.config_ = {}
            self._build(data, user_table, item_table, fit_m)
            self.module_.to(self.device_)
            trainer = Trainer(epochs=self.epochs, learning_rate=self.learning_rate,
                              weight_decay=self.weight_decay, patience=self.patience,
                              device=self.device_, progress=progress, desc=type(self).__name__)
            validate = None if valid_m is None else (lambda: self._validation_ndcg(fit_m, valid_m))
            self.history_ = self._train(trainer, fit_m, rng, validate)
            # fitted models live on the CPU (saving, serving); export there too
            self.module_.to("cpu")
            self.device_ = torch.device("cpu")
            self._export(self.train_)

    def _train(self, trainer: Trainer, fit_m: sp.csr_matrix, rng: np.random.Generator, validate) -> TrainHistory:
        return trainer.fit(self.module_, lambda r: self._batches(fit_m, r), self._loss, rng=rng,
                           validate=validate)

    def _carve_validation(self, m: sp.csr_matrix, rng: np.random.Generator):
        """Hold out ``validation_fraction`` of each user's cells (users with >= 3 cells)."""
        if self.validation_fraction == 0:
            return m, None
        m = sp.csr_matrix(m)
        counts = np.diff(m.indptr)
        u = np.repeat(np.arange(m.shape[0]), counts)
        pick = (rng.random(m.nnz) < self.validation_fraction) & (counts[u] >= 3)
        valid = sp.csr_matrix((m.data[pick], m.indices[pick], np.r_[0, np.cumsum(np.bincount(u[pick], minlength=m.shape[0]))]),
                              shape=m.shape)
        fit = sp.csr_matrix((m.data[~pick], m.indices[~pick], np.r_[0, np.cumsum(np.bincount(u[~pick], minlength=m.shape[0]))]),
                            shape=m.shape)
        if valid.nnz == 0:
            return m, None
        return fit, valid

    def _validation_ndcg(self, fit_m: sp.csr_matrix, valid_m: sp.csr_matrix, k: int = 10) -> float:
        """NDCG@k on held-out cells, training cells excluded (users sampled deterministically)."""
        self._export(fit_m)
        users = np.flatnonzero(np.diff(valid_m.indptr) > 0)[:_VALID_USERS]
        block = np.ascontiguousarray(self._score_block(users, None), np.float32)
        ex = fit_m[users]
        top, _ = topk(block, min(k, block.shape[1]), ex.indptr.astype(np.int64), ex.indices.astype(np.int64))
        return float(np.nanmean(ranking_metrics(top, valid_m[users], k)["ndcg"]))

    def positive_pairs(self, m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) index arrays of the cells of ``m``."""
        return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr)), m.indices.astype(np.int64)

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device_)

    # -- feature rows ------------------------------------------------------------------
    def _encode_side(self, side: str, data: Interactions, table: FeatureTable | None,
                     known: np.ndarray, **enc_params: Any) -> None:
        """Fit the encoder of ``side`` ("user"/"item") and store its rows as CSR."""
        vocab = data.users if side == "user" else data.items
        if table is not None and not np.any(table.vocab.contains(vocab.ids)):
            raise DataError(f"the {side}_features table shares no id with the {side}s of the data; "
                            "build it on the same vocabulary (Dataset.user_features / item_features)")
        enc = FieldEncoder(**enc_params).fit(vocab, table)
        rows = enc.transform(vocab.ids, table, known=known)
        setattr(self, f"{side}_rows_", rows)
        self.config_[f"{side}_encoder"] = enc.to_json()

    def encoder(self, side: str) -> FieldEncoder:
        """The fitted FieldEncoder of ``side`` ("user" or "item")."""
        return FieldEncoder.from_json(self.config_[f"{side}_encoder"])

    def _padded(self, side: str, rows: sp.csr_matrix | None = None) -> tuple[np.ndarray, ...]:
        """(index, value, field) arrays of ``rows`` (default: the side's fitted entities)."""
        enc = self.encoder(side)
        rows = getattr(self, f"{side}_rows_") if rows is None else rows
        return padded(rows, enc.index_fields(), enc.n_index - 1 if enc.n_index else 0)

    def _side_tensors(self, side: str) -> list[torch.Tensor]:
        """Padded rows of all fitted entities of ``side`` as tensors on the current device."""
        rows = getattr(self, f"{side}_rows_")
        key = (side, id(rows), str(self.device_))
        cache = self.__dict__.setdefault("_pad_cache", {})
        if key not in cache:
            for k in [k for k in cache if k[0] == side]:
                del cache[k]
            cache[key] = [self._tensor(a) for a in self._padded(side)]
        return cache[key]

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        arrays = dict(super()._state())
        arrays["neural_config"] = json_array(self.config_)
        arrays["neural_history"] = json_array(self.history_.to_json())
        for k, v in self.module_.state_dict().items():
            arrays[f"module.{k}"] = v.detach().cpu().numpy()
        for side in ("user", "item"):
            rows = getattr(self, f"{side}_rows_", None)
            if rows is not None:
                arrays[f"{side}_rows_data"] = rows.data
                arrays[f"{side}_rows_indices"] = rows.indices
                arrays[f"{side}_rows_indptr"] = rows.indptr
                arrays[f"{side}_rows_shape"] = np.asarray(rows.shape, np.int64)
        return arrays

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self.config_ = array_json(arrays["neural_config"])
        self.history_ = TrainHistory.from_json(array_json(arrays["neural_history"]))
        self.device_ = torch.device("cpu")
        for side in ("user", "item"):
            if f"{side}_rows_data" in arrays:
                setattr(self, f"{side}_rows_", sp.csr_matrix(
                    (arrays[f"{side}_rows_data"], arrays[f"{side}_rows_indices"], arrays[f"{side}_rows_indptr"]),
                    shape=tuple(arrays[f"{side}_rows_shape"])))
        self.module_ = self._make_module()
        state = {k[len("module."):]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                 if k.startswith("module.")}
        self.module_.load_state_dict(state)
        self.module_.eval()
        self._after_load(arrays)

    def _after_load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore model-specific arrays (override)."""

    def plot_learning_curve(self, path: str | Path) -> Path:
        """Write the learning curve (loss and validation metric per epoch) as a PNG."""
        self._check_fitted()
        return plot_learning_curve(self.history_, path, title=type(self).__name__)


class SampledNegativesMixin:
    """Training on (user, positive item, sampled negatives) with a pointwise or pairwise loss.

    Negatives are drawn uniformly from the catalog (a negative that happens to be a
    positive of the user is kept: at MovieLens densities that is ~5% noise, and filtering
    would cost a lookup per sample). Subclasses implement ``_pair_scores(users, items)``.
    """

    def _batches(self, fit_m: sp.csr_matrix, rng: np.random.Generator):
        users, items = self.positive_pairs(fit_m)
        order = rng.permutation(users.size)
        n_items = fit_m.shape[1]
        for s in range(0, users.size, self.batch_size):
            b = order[s:s + self.batch_size]
            neg = rng.integers(0, n_items, size=(b.size, self.negatives))
            yield b.size, (self._tensor(users[b]), self._tensor(items[b]), self._tensor(neg))

    def _loss(self, batch) -> torch.Tensor:
        users, pos, neg = batch
        b, n = neg.shape
        s_pos = self._pair_scores(users, pos)
        s_neg = self._pair_scores(users.repeat_interleave(n), neg.reshape(-1)).view(b, n)
        if self.loss == "bpr":
            return torch.nn.functional.softplus(s_neg - s_pos.unsqueeze(1)).mean()
        return (torch.nn.functional.softplus(-s_pos) + torch.nn.functional.softplus(s_neg).sum(1)).mean() / (1 + n)
