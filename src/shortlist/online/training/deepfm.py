"""Online DeepFM: the FM's sparse rows plus a small MLP over the concatenated field embeddings.

The score of head *h* is ``b_h + a_h * fm(x) + u_h . mlp(v_1 | ... | v_F)``: ``fm`` is the
FM's linear and pairwise part over the rows of the collisionless table, ``mlp`` a stack of
ReLU layers (``hidden``; none gives a linear map of the embeddings). With one head (``label``)
it is DeepFM; with several (one per action, :mod:`.heads`) the heads share the rows and the
MLP and own only ``a_h``, ``b_h`` and ``u_h``.

A mini-batch is predicted whole, then stepped twice, separately: the rows it touched get
per-row Adagrad in the table (as the FM's do), the dense parameters one Adam step in a flat
float64 buffer. The buffer (parameters, Adam moments, step count) is :attr:`dense`, so the
trainer's snapshot saves and restores it as it does the FM's bias. Plain numpy: torch is not
needed, and serving computes the same :func:`forward` on the synced parameters.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from shortlist.errors import ConfigError
from shortlist.online.embeddings import CollisionlessTable, HashingTable, feature_keys
from shortlist.online.training.fm import OnlineFM

__all__ = ["Layout", "OnlineDeepFM", "build_model", "forward", "served_predict", "serving_meta"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class Layout:
    """Shapes of the dense parameters in their flat vector: per layer (W, c), then U, b, a."""

    def __init__(self, n_fields: int, dim: int, hidden: tuple[int, ...] | list[int], n_heads: int) -> None:
        self.n_fields, self.dim, self.hidden, self.n_heads = int(n_fields), int(dim), tuple(hidden), int(n_heads)
        sizes = (n_fields * dim, *self.hidden)
        self.shapes: list[tuple[int, ...]] = []
        for n_in, n_out in itertools.pairwise(sizes):
            self.shapes += [(n_in, n_out), (n_out,)]
        self.shapes += [(sizes[-1], n_heads), (n_heads,), (n_heads,)]
        self.size = int(sum(np.prod(s) for s in self.shapes))

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """The parameters as arrays that share memory with ``flat``."""
        out, at = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(flat[at:at + n].reshape(s))
            at += n
        return out

    def init(self, seed: int) -> np.ndarray:
        """He-scaled layers, small output weights, ``a = 1`` (the FM part counts from the start), ``b = 0``."""
        flat = np.zeros(self.size, np.float64)
        v = self.views(flat)
        rng = np.random.default_rng(seed)
        for k in range(0, len(v) - 3, 2):
            v[k][:] = rng.normal(0.0, np.sqrt(2.0 / v[k].shape[0]), v[k].shape)
        v[-3][:] = rng.normal(0.0, 0.01, v[-3].shape)
        v[-1][:] = 1.0
        return flat


def forward(vecs: np.ndarray, params: list[np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
    """Logits (n x heads) of rows ``vecs`` (n x fields x (1 + d)), and what :func:`backward` needs."""
    vecs = np.asarray(vecs, np.float64)
    n, f, width = vecs.shape
    v = vecs[:, :, 1:]
    s = v.sum(axis=1)
    fm = vecs[:, :, 0].sum(axis=1) + 0.5 * ((s * s).sum(axis=1) - (v * v).sum(axis=(1, 2)))
    hs, zs = [v.reshape(n, f * (width - 1))], []
    for k in range(0, len(params) - 3, 2):
        zs.append(hs[-1] @ params[k] + params[k + 1])
        hs.append(np.maximum(zs[-1], 0.0))
    u, b, a = params[-3:]
    logits = b + fm[:, None] * a + hs[-1] @ u
    return logits, {"vecs": vecs, "sum": s, "fm": fm, "hs": hs, "zs": zs}


def backward(cache: dict[str, Any], g: np.ndarray, params: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``sum(g * logits)``: the dense ones (flat, in :class:`Layout` order) and the rows'."""
    vecs, s, fm, hs, zs = cache["vecs"], cache["sum"], cache["fm"], cache["hs"], cache["zs"]
    u, _, a = params[-3:]
    grads = [hs[-1].T @ g, g.sum(axis=0), (g * fm[:, None]).sum(axis=0)]
    gh = g @ u.T
    for k in range(len(zs) - 1, -1, -1):
        gz = gh * (zs[k] > 0)
        grads[:0] = [hs[k].T @ gz, gz.sum(axis=0)]
        gh = gz @ params[2 * k].T
    gfm = g @ a
    g_vecs = np.empty_like(vecs)
    g_vecs[:, :, 0] = gfm[:, None]
    g_vecs[:, :, 1:] = gfm[:, None, None] * (s[:, None, :] - vecs[:, :, 1:]) + gh.reshape(vecs.shape[0],
                                                                                        vecs.shape[1], -1)
    return np.concatenate([x.ravel() for x in grads]), g_vecs


class OnlineDeepFM:
    """DeepFM (one head) or a multi-head value model over a :class:`CollisionlessTable`."""

    def __init__(self, table: CollisionlessTable | HashingTable, *, fields: tuple[str, ...] = ("user", "item"),
                 lr: float = 0.05, l2: float = 0.0, hidden: tuple[int, ...] | list[int] = (32, 16),
                 dense_lr: float = 0.001, heads: tuple[str, ...] = ("label",), seed: int = 0) -> None:
        self.table = table
        self.fields = tuple(fields)
        self.lr, self.l2, self.dense_lr = float(lr), float(l2), float(dense_lr)
        self.heads = tuple(heads)
        self.layout = Layout(len(self.fields), table.weights.shape[1] - 1, hidden, len(self.heads))
        p = self.layout.size
        self._buf = np.zeros(1 + 3 * p, np.float64)  # step count, parameters, Adam's two moments
        self.params = self._buf[1:1 + p]
        self._m, self._v = self._buf[1 + p:1 + 2 * p], self._buf[1 + 2 * p:]
        self.params[:] = self.layout.init(seed)
        self._views = self.layout.views(self.params)

    @property
    def dense(self) -> np.ndarray:
        """All dense state in one vector (what a snapshot holds)."""
        return self._buf

    @dense.setter
    def dense(self, value: np.ndarray) -> None:
        if np.shape(value) != self._buf.shape:
            raise ConfigError(f"the snapshot's dense parameters have shape {np.shape(value)}, this DeepFM's "
                              f"{self._buf.shape}: fields, hidden, heads or table.dim changed since it was "
                              "written; restore the old config or start from an empty folder")
        self._buf[:] = value  # in place: the parameter views stay valid

    def keys(self, columns: dict[str, Any]) -> np.ndarray:
        """Feature keys (n x fields) from one array of raw values per field."""
        return np.stack([feature_keys(f, np.asarray(columns[name])) for f, name in enumerate(self.fields)], axis=1)

    def train(self, keys: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
              now: float = 0.0) -> tuple[np.ndarray, float]:
        """Predict the mini-batch, then step its rows and the dense params; returns (predictions, summed loss).

        ``labels`` is n (one head) or n x heads; predictions have the same shape.
        """
        n = keys.shape[0]
        rows = self.table.lookup(keys.ravel(), now).reshape(n, -1)
        y = np.asarray(labels, np.float64).reshape(n, -1)
        w = (np.ones(n) if weights is None else np.asarray(weights, np.float64))[:, None]
        logits, cache = forward(self.table.weights[rows], self._views)
        p = 1.0 / (1.0 + np.exp(-np.clip(logits, -35.0, 35.0)))
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        loss = float(-(w * (y * np.log(pc) + (1 - y) * np.log(1 - pc))).sum())
        g_dense, g_vecs = backward(cache, w * (p - y), self._views)
        self.sparse_step(rows, g_vecs)
        self.dense_step(g_dense / n)
        return (p[:, 0] if np.ndim(labels) == 1 else p), loss

    def sparse_step(self, rows: np.ndarray, g_vecs: np.ndarray) -> None:
        """Per-row Adagrad on the table: each row once, with the summed gradient of its examples."""
        t = self.table
        uniq, inverse = np.unique(rows.ravel(), return_inverse=True)
        g = np.zeros((uniq.size, g_vecs.shape[-1]), np.float64)
        np.add.at(g, inverse.ravel(), g_vecs.reshape(-1, g_vecs.shape[-1]))
        g += self.l2 * t.weights[uniq]
        t.accum[uniq] += (g * g).astype(np.float32)
        t.weights[uniq] -= (self.lr * g / np.sqrt(t.accum[uniq].astype(np.float64) + 1e-8)).astype(np.float32)
        t.touched[uniq] = True

    def dense_step(self, grad: np.ndarray) -> None:
        """One Adam step on the dense parameters (the table is not touched)."""
        self._buf[0] += 1
        step = self._buf[0]
        self._m[:] = _BETA1 * self._m + (1 - _BETA1) * grad
        self._v[:] = _BETA2 * self._v + (1 - _BETA2) * grad * grad
        m_hat, v_hat = self._m / (1 - _BETA1 ** step), self._v / (1 - _BETA2 ** step)
        self.params -= self.dense_lr * m_hat / (np.sqrt(v_hat) + _EPS)

    def predict(self, keys: np.ndarray) -> np.ndarray:
        """Probabilities (n, or n x heads with several heads); no admission, no update."""
        n = keys.shape[0]
        rows = self.table.find(keys.ravel()).reshape(n, -1)
        p = _sigmoid(forward(self.table.weights[rows], self._views)[0])
        return p[:, 0] if len(self.heads) == 1 else p

    def dense_params(self) -> np.ndarray:
        """What serving needs besides the rows: a 0 where the FM has its bias, the default row, the MLP."""
        return np.concatenate([[0.0], self.table.weights[0].astype(np.float64), self.params])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35.0, 35.0)))


def serving_meta(model: Any) -> dict[str, Any]:
    """What a served version records to rebuild the model from its dense params (nothing for the FM)."""
    if not isinstance(model, OnlineDeepFM):
        return {}
    lay = model.layout
    return {"model": "deepfm", "hidden": list(lay.hidden), "heads": list(model.heads), "dim": lay.dim}


def served_predict(vecs: np.ndarray, dense: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Probabilities (n x heads) of a served DeepFM: :func:`forward` on the dense params it published."""
    width = int(meta["dim"]) + 1
    lay = Layout(vecs.shape[1], width - 1, meta["hidden"], len(meta["heads"]))
    return _sigmoid(forward(vecs, lay.views(np.asarray(dense[1 + width:], np.float64)))[0])


def build_model(table: CollisionlessTable, config: Any) -> Any:
    """The model ``config.model`` names (a trainer config): :class:`OnlineFM` or :class:`OnlineDeepFM`."""
    c = config
    if c.model == "fm":
        return OnlineFM(table, fields=c.fields, lr=c.lr, l2=c.l2)
    heads = tuple(c.heads) or ("label",)
    return OnlineDeepFM(table, fields=c.fields, lr=c.lr, l2=c.l2, hidden=c.hidden, dense_lr=c.dense_lr,
                        heads=heads, seed=c.seed)
