"""Trainer: learning, early stopping restores the best epoch, determinism, curves, devices."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shortlist.errors import ConfigError
from shortlist.neural.trainer import Trainer, plot_learning_curve, resolve_device, seeded


def _regression(seed: int):
    with seeded(seed):
        module = torch.nn.Linear(3, 1)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32))
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    y = x @ w

    def batches(rng):
        order = rng.permutation(256)
        for s in range(0, 256, 32):
            yield 32, order[s:s + 32]

    def loss(b):
        return ((module(x[b]) - y[b]) ** 2).mean()

    return module, batches, loss, w


def test_learns_a_linear_map():
    module, batches, loss, w = _regression(0)
    hist = Trainer(epochs=40, learning_rate=0.05).fit(module, batches, loss, rng=np.random.default_rng(0))
    np.testing.assert_allclose(module.weight.detach().numpy(), w.T.numpy(), atol=0.02)
    assert hist.loss[-1] < 1e-3 < hist.loss[0]
    assert hist.examples == [256] * 40 and len(hist.seconds) == 40


def test_early_stopping_restores_best_epoch():
    module, batches, loss, _ = _regression(0)
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.9])
    seen = []

    def validate():
        seen.append(module.weight.detach().clone())
        return next(scores)

    hist = Trainer(epochs=5, learning_rate=0.05, patience=2).fit(
        module, batches, loss, rng=np.random.default_rng(0), validate=validate)
    assert hist.valid == [0.1, 0.5, 0.3, 0.2]  # stopped after two epochs without progress
    assert hist.best_epoch == 1
    torch.testing.assert_close(module.weight.detach(), seen[1])


def test_seeded_runs_are_identical():
    a, b_, la, _ = _regression(7)
    Trainer(epochs=3, learning_rate=0.05).fit(a, b_, la, rng=np.random.default_rng(1))
    c, d_, lc, _ = _regression(7)
    Trainer(epochs=3, learning_rate=0.05).fit(c, d_, lc, rng=np.random.default_rng(1))
    torch.testing.assert_close(a.weight, c.weight, rtol=0, atol=0)


def test_seeded_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    with seeded(5):
        torch.rand(3)
    assert torch.rand(1).item() == expected.item()


def test_nan_loss_raises_with_fix():
    module = torch.nn.Linear(1, 1)

    def batches(rng):
        yield 1, None

    with pytest.raises(ConfigError, match="lower learning_rate"):
        Trainer(epochs=1, learning_rate=1.0).fit(module, batches, lambda b: module.weight.sum() * float("nan"),
                                                 rng=np.random.default_rng(0))


def test_learning_curve_png(tmp_path):
    module, batches, loss, _ = _regression(0)
    hist = Trainer(epochs=3, learning_rate=0.05).fit(module, batches, loss, rng=np.random.default_rng(0),
                                                     validate=lambda: 0.5)
    path = plot_learning_curve(hist, tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device='tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
