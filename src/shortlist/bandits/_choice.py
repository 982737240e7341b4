"""Turning per-arm scores into k ordered choices with per-slot propensities.

Shared by every policy. Conventions: ties go to the earliest arm slot (deterministic
policies then have propensity exactly 1); propensities of sequential choices (greedy,
epsilon-greedy, softmax) are conditional on the slots above; Thompson propensities are
Monte-Carlo estimates of the marginal probability of the arm being in that slot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["epsilon_greedy", "greedy", "plackett_luce", "sampled_topk"]


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return np.argmax(scores, axis=1)[:, None]
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def greedy(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic top-k: propensity 1 for every slot."""
    if k == 1:
        best = scores.argmax(axis=1)
        return best[:, None], np.ones((len(best), 1)), scores[np.arange(len(best)), best][:, None]
    idx = _topk(scores, k)
    return idx, np.ones(idx.shape), np.take_along_axis(scores, idx, axis=1)


def epsilon_greedy(scores: np.ndarray, k: int, eps: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each slot: with probability ``eps`` a uniform remaining arm, else the best remaining one."""
    n, m = scores.shape
    work = scores.astype(np.float64, copy=True)
    idx = np.empty((n, k), np.int64)
    prop = np.empty((n, k))
    rows = np.arange(n)
    for j in range(k):
        best = np.argmax(work, axis=1)
        explore = rng.random(n) < eps
        # a uniform pick among the m - j arms still available
        order = rng.random((n, m))
        order[work == -np.inf] = -1.0
        pick = np.where(explore, np.argmax(order, axis=1), best)
        remaining = m - j
        prop[:, j] = eps / remaining + np.where(pick == best, 1.0 - eps, 0.0)
        idx[:, j] = pick
        work[rows, pick] = -np.inf
    return idx, prop, np.take_along_axis(scores, idx, axis=1)


def plackett_luce(logits: np.ndarray, k: int, rng: np.random.Generator,
                  scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample k arms without replacement with probability proportional to ``exp(logits)``."""
    z = logits - logits.max(axis=1, keepdims=True)
    w = np.exp(z)
    gumbel = z + rng.gumbel(size=z.shape)  # Gumbel-top-k = sequential softmax sampling
    idx = _topk(gumbel, k)
    picked = np.take_along_axis(w, idx, axis=1)
    mass = w.sum(axis=1, keepdims=True) - np.concatenate(
        [np.zeros((len(w), 1)), np.cumsum(picked, axis=1)[:, :-1]], axis=1)
    prop = picked / mass
    src = logits if scores is None else scores
    return idx, prop, np.take_along_axis(src, idx, axis=1)


def sampled_topk(sample: Callable[[int], np.ndarray], k: int,
                 draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of one posterior sample; propensities from ``draws`` more samples.

    ``sample(d)`` returns (d, n, m) sampled scores. The estimate ``(hits + 1) / (draws + 1)``
    counts the draw that made the decision, so it is never 0; with ``draws=0`` the
    propensities are NaN (not estimated).
    """
    s = sample(1)[0]
    idx = _topk(s, k)
    chosen = np.take_along_axis(s, idx, axis=1)
    if draws <= 0:
        return idx, np.full(idx.shape, np.nan), chosen
    hits = np.zeros(idx.shape)
    step = max(1, 4_000_000 // max(s.size, 1))
    for start in range(0, draws, step):
        extra = sample(min(step, draws - start))
        if k == 1:
            hits[:, 0] += (np.argmax(extra, axis=2) == idx[:, 0][None, :]).sum(axis=0)
        else:
            top = np.argsort(-extra, axis=2, kind="stable")[:, :, :k]
            hits += (top == idx[None, :, :]).sum(axis=0)
    return idx, (hits + 1.0) / (draws + 1.0), chosen
