"""The one training loop of the neural models: mini-batches, early stopping, learning curves.

Models hand the :class:`Trainer` a module, a batch generator and a loss function; the
trainer owns the optimizer, the tqdm bar, the epoch timing, the validation-driven early
stopping (the best weights are restored at the end) and the learning-curve plot.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from shortlist.errors import ConfigError

__all__ = ["TrainHistory", "Trainer", "plot_learning_curve", "resolve_device", "seeded", "torch_threads"]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without CUDA raises."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"device={device!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but CUDA is not available here; use device='cpu' or 'auto'")
    return torch.device(device)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch inside a forked RNG state and ask for deterministic kernels, then restore."""
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was, warn_only=warn_only)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op threads (None = leave as is), restoring the previous count."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class TrainHistory:
    """Per-epoch training loss, validation metric and wall time; the epoch kept at the end."""

    loss: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    examples: list[int] = field(default_factory=list)
    best_epoch: int = -1
    metric: str = ""

    def examples_per_second(self) -> float:
        """Training throughput over all epochs (validation time excluded)."""
        return float(sum(self.examples) / max(sum(self.seconds), 1e-9))

    def to_json(self) -> dict[str, Any]:
        return {"loss": self.loss, "valid": self.valid, "seconds": self.seconds,
                "examples": self.examples, "best_epoch": self.best_epoch, "metric": self.metric}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainHistory:
        return cls(**obj)


class Trainer:
    """Adam over mini-batches with early stopping on a validation metric (higher = better)."""

    def __init__(self, *, epochs: int, learning_rate: float, weight_decay: float = 0.0,
                 patience: int = 3, device: torch.device | str = "cpu", progress: bool | None = None,
                 desc: str = "train") -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.device = torch.device(device)
        self.progress = progress
        self.desc = desc

    def fit(
        self,
        module: torch.nn.Module,
        batches: Callable[[np.random.Generator], Iterable[tuple[int, Any]]],
        loss_fn: Callable[[Any], torch.Tensor],
        *,
        rng: np.random.Generator,
        validate: Callable[[], float] | None = None,
        metric: str = "ndcg@10",
        n_batches: int | None = None,
        params: Iterable[torch.nn.Parameter] | None = None,
    ) -> TrainHistory:
        """Train ``module``; ``batches(rng)`` yields ``(n_examples, batch)`` per step."""
        opt = torch.optim.Adam(list(params) if params is not None else module.parameters(),
                               lr=self.learning_rate, weight_decay=self.weight_decay)
        hist = TrainHistory(metric=metric if validate is not None else "")
        best, best_state, bad = -np.inf, None, 0
        bar = tqdm(total=self.epochs, desc=self.desc, unit="epoch", leave=False,
                   disable=(not self.progress) if self.progress is not None else None)
        try:
            for epoch in range(self.epochs):
                t0 = time.perf_counter()
                total, seen = self._epoch(module, opt, batches(rng), loss_fn, epoch)
                hist.seconds.append(time.perf_counter() - t0)
                hist.examples.append(seen)
                hist.loss.append(total / max(seen, 1))
                bar.update(1)
                if validate is None:
                    hist.best_epoch = epoch
                    continue
                module.eval()
                with torch.no_grad():
                    score = float(validate())
                hist.valid.append(score)
                bar.set_postfix(loss=f"{hist.loss[-1]:.4f}", **{metric: f"{score:.4f}"})
                if score > best:
                    best, bad, hist.best_epoch = score, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        finally:
            bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        return hist

    def _epoch(self, module: torch.nn.Module, opt: torch.optim.Optimizer, batches: Iterable[tuple[int, Any]],
               loss_fn: Callable[[Any], torch.Tensor], epoch: int) -> tuple[float, int]:
        """One pass over ``batches`` in training mode: (summed loss weighted by examples, examples seen)."""
        module.train()
        total, seen = 0.0, 0
        for n, batch in batches:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            if not torch.isfinite(loss):
                raise ConfigError(
                    f"the training loss became {float(loss.detach())} at epoch {epoch + 1}; "
                    f"lower learning_rate (now {self.learning_rate})")
            loss.backward()
            opt.step()
            total += float(loss.detach()) * n
            seen += n
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return total, seen


def plot_learning_curve(history: TrainHistory, path: str | Path, *, title: str = "") -> Path:
    """Write a PNG with the training loss and the validation metric per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = np.arange(1, len(history.loss) + 1)
    ax.plot(epochs, history.loss, "o-", color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    if history.valid:
        ax2 = ax.twinx()
        ax2.plot(epochs[: len(history.valid)], history.valid, "s-", color="tab:orange",
                 label=f"validation {history.metric}")
        ax2.set_ylabel(f"validation {history.metric}", color="tab:orange")
        if history.best_epoch >= 0:
            ax2.axvline(history.best_epoch + 1, color="grey", ls="--", lw=1)
    ax.set_title(title or "learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
