"""The bandit policy contract: :class:`Policy` and :class:`Decision`.

Every policy shares one life cycle: keyword-only hyperparameters stored as given ->
``select(context, arms, k)`` -> ``update(context, actions, rewards)`` -> ``save`` / ``load``.
The base class owns everything that does not depend on the learning rule: the arm
registry (``add_arms`` / ``remove_arms`` at run time), input validation, the random
generator (its state is saved, so a restored policy continues with identical decisions),
non-stationarity (discount factor ``gamma`` or a sliding ``window`` of rows) and
persistence (``arrays.npz`` + ``model.json``, no pickle).

Subclasses keep per-arm statistics in arrays whose first axis is the arm slot and
implement ``_new_arm_state``, ``_accumulate``, ``_decay`` and ``_choose``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from shortlist.core.parameters import check_params
from shortlist.core.persistence import read_model_dir, write_model_dir
from shortlist.core.registry import Registry
from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError, ModelFileError, UnknownIdError
from shortlist.params import KeywordParams

__all__ = ["POLICIES", "Decision", "Policy", "policy_class"]

#: policy names (as on the command line) -> classes; every concrete policy registers here
POLICIES = Registry("policy", builtins="shortlist.bandits", attr=None)


def policy_class(name: str) -> type[Policy]:
    """The policy class saved under class name ``name`` (or registered under that name)."""
    found = POLICIES.find(lambda key, cls: name in (key, cls.__name__))
    if not found:
        known = sorted(c.__name__ for c in POLICIES.values())
        raise ModelFileError(f"unknown policy class {name!r}; known: {known}")
    return POLICIES.get_class(found[0])


@dataclass
class Decision:
    """What a policy chose: one row per context, one column per slot (best first).

    ``propensities[i, j]`` is the probability the policy had of putting ``actions[i, j]``
    in slot ``j`` given the slots above it (exact, or a Monte-Carlo estimate for
    Thompson sampling - see each policy). ``scores`` are the values the choice used.
    """

    actions: np.ndarray
    propensities: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.actions.shape[0])


class Policy(KeywordParams):
    """Base class of every bandit policy (see the module docstring for the life cycle)."""

    #: whether ``select``/``update`` need a context matrix (False: contexts are ignored)
    uses_context: ClassVar[bool] = False
    #: names of the per-arm arrays (first axis = arm slot)
    _arm_fields: ClassVar[tuple[str, ...]] = ()
    #: names of arrays shared by all arms
    _global_fields: ClassVar[tuple[str, ...]] = ()

    # -- hyperparameters ---------------------------------------------------------------
    _repr_skip = ("arms",)

    def _setup(self) -> None:
        """Validate shared hyperparameters and create the empty state (call from ``__init__``)."""
        self._validate_params()
        self.rng_ = np.random.Generator(np.random.PCG64(self.seed))
        self.t_ = 0
        self.n_features_: int | None = None
        self.arm_vocab_ = Vocab([])
        self._state: dict[str, np.ndarray] = {}
        self._init_global()
        self._win: dict[str, np.ndarray] | None = None
        arms = self.arms
        if arms is not None:
            self.add_arms(range(arms) if isinstance(arms, (int, np.integer)) else arms)

    def _validate_params(self) -> None:
        """Check the hyperparameters against their one declaration: the annotated keyword-only signature."""
        check_params(self, f"policy {type(self).__name__}")
        if getattr(self, "window", None) is not None and self.gamma != 1.0:  # a relation, not a range
            raise ConfigError(f"policy {type(self).__name__}: gamma={self.gamma!r} with window={self.window!r}; "
                              "fix: use either gamma (discount) or window (sliding window), not both")

    # -- arms --------------------------------------------------------------------------
    @property
    def arms_(self) -> np.ndarray:
        """The arm ids, in slot order."""
        return self.arm_vocab_.ids

    @property
    def n_arms_(self) -> int:
        """Number of arms."""
        return len(self.arm_vocab_)

    def add_arms(self, arms: Any, **features: Any) -> Policy:
        """Add new arms (ids unseen so far) with prior statistics; returns ``self``."""
        new = np.atleast_1d(np.asarray(list(arms) if not isinstance(arms, np.ndarray) else arms))
        if new.size == 0:
            return self
        if len(self.arm_vocab_):
            known = self.arm_vocab_.contains(new)
            if known.any():
                raise ConfigError(f"arms {new[known][:5].tolist()} already exist; add only new ids")
        self.arm_vocab_ = self.arm_vocab_.extend(new) if len(self.arm_vocab_) else Vocab(new)
        fresh = self._new_arm_state(len(new), **features)
        for key in self._arm_fields:
            old = self._state.get(key)
            self._state[key] = fresh[key] if old is None else np.concatenate([old, fresh[key]])
        self._arms_changed()
        return self

    def remove_arms(self, arms: Any) -> Policy:
        """Remove arms and their statistics; returns ``self``."""
        slots = self._slots(arms, "arms")
        keep = np.ones(self.n_arms_, bool)
        keep[slots] = False
        self.arm_vocab_ = Vocab(self.arms_[keep])
        for key in self._arm_fields:
            self._state[key] = self._state[key][keep]
        if self._win is not None:  # forget buffered rows of removed arms, renumber the others
            remap = np.cumsum(keep) - 1
            ok = keep[self._win["slot"]]
            self._win = {k: v[ok] for k, v in self._win.items()}
            self._win["slot"] = remap[self._win["slot"]]
        self._arms_changed()
        return self

    def _arms_changed(self) -> None:
        self._dense_val = None
        self._after_arm_change()

    def _after_arm_change(self) -> None:
        """Hook for caches that depend on the arm set (override)."""

    def _slots(self, arms: Any, name: str) -> np.ndarray:
        arr = np.asarray(arms)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        if self.n_arms_ == 0:
            raise UnknownIdError(f"{name}: this policy has no arms yet; call add_arms(...) first", ids=arr[:5].tolist())
        if arr.dtype.kind in "iu" and self._dense:  # ids are slots: a range check is enough
            if arr.size == 0 or (arr.min() >= 0 and arr.max() < self.n_arms_):
                return arr.astype(np.int64, copy=False)
            bad = (arr < 0) | (arr >= self.n_arms_)
        else:
            idx = self.arm_vocab_.index(arr, missing="ignore", what="arm") if arr.size else arr.astype(np.int64)
            bad = idx < 0
            if not bad.any():
                return idx.astype(np.int64, copy=False)
        raise UnknownIdError(
            f"{name} contains unknown arm ids {arr[bad][:5].tolist()}; known arms are "
            f"{self.arms_[:10].tolist()}{'...' if self.n_arms_ > 10 else ''}; add them with add_arms first",
            ids=arr[bad][:5].tolist())

    @property
    def _dense(self) -> bool:
        """Whether arm ids are exactly 0..n-1, so ids are slots (a fast path for lookups)."""
        ids = self.arm_vocab_.ids
        if getattr(self, "_dense_val", None) is None:
            self._dense_val = bool(len(ids) and ids.dtype.kind in "iu" and ids[0] == 0
                                   and ids[-1] == len(ids) - 1 and np.all(np.diff(ids) == 1))
        return self._dense_val

    # -- input checks ------------------------------------------------------------------
    def _context(self, context: Any, n_rows: int | None = None) -> np.ndarray:
        """Context as a float64 (n, d) matrix, checking the dimension."""
        if not self.uses_context:
            if context is None:
                return np.zeros((n_rows or 1, 0))
            arr = np.asarray(context)
            n = arr.shape[0] if arr.ndim >= 1 else 1
            return np.zeros((n, 0))
        if context is None:
            raise DataError(f"{type(self).__name__} needs a context: pass an array of shape (n, d)")
        x = np.asarray(context, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise DataError(f"context must have shape (n, d) or (d,), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise DataError("context contains NaN or infinite values; impute or drop those rows")
        if self.n_features_ is None:
            self.n_features_ = x.shape[1]
            self._init_features(x.shape[1])
        elif x.shape[1] != self.n_features_:
            raise DataError(f"context has {x.shape[1]} features but this policy was built with "
                            f"{self.n_features_}; pass contexts of dimension {self.n_features_}")
        return x

    def _init_features(self, d: int) -> None:
        """Size the state for ``d`` context features (override for linear policies)."""

    def _init_global(self) -> None:
        """Create arrays shared by all arms (override)."""

    # -- decisions ---------------------------------------------------------------------
    def select(self, context: Any = None, arms: Any = None, k: int = 1) -> Decision:
        """Choose ``k`` arms (best first) for each context row among ``arms`` (all when None)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ConfigError(f"k must be a positive integer, got {k!r}; ask for e.g. k=1")
        if self.n_arms_ == 0:
            raise ConfigError(f"{type(self).__name__} has no arms; pass arms=... or call add_arms first")
        x = self._context(context)
        if arms is None:
            if getattr(self, "_all_slots", np.empty(0)).shape[0] != self.n_arms_:
                self._all_slots = np.arange(self.n_arms_)
            slots = self._all_slots
        else:
            slots = np.unique(self._slots(arms, "arms"))
        if k > len(slots):
            raise ConfigError(f"k={k} is larger than the {len(slots)} eligible arms; lower k or add arms")
        idx, prop, scores = self._choose(x, slots, int(k))
        chosen = slots[idx]
        return Decision(chosen if self._dense else self.arm_vocab_.ids[chosen], prop, scores)

    def _choose(self, x: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions in ``slots`` (n, k), propensities and scores (override)."""
        raise NotImplementedError

    # -- learning ----------------------------------------------------------------------
    def update(self, context: Any, actions: Any, rewards: Any) -> Policy:
        """Learn from ``n`` rows at once: the arms shown and the rewards they got.

        ``actions``/``rewards`` have shape (n,) (or (n, k) for slates, flattened row by
        row). Rows count as consecutive time steps for ``gamma`` and ``window``.
        """
        acts = np.asarray(actions)
        rew = np.asarray(rewards, dtype=np.float64)
        if acts.shape != rew.shape:
            raise DataError(f"actions and rewards must have the same shape, got {acts.shape} and {rew.shape}")
        if not np.isfinite(rew).all():
            raise DataError("rewards contain NaN or infinite values; drop those rows or impute a reward")
        n = acts.shape[0] if acts.ndim else 1
        x = self._context(context, n_rows=n)
        if x.shape[0] != n:
            raise DataError(f"context has {x.shape[0]} rows but actions has {n}; pass one context row per action row")
        per_row = int(np.prod(acts.shape[1:])) if acts.ndim > 1 else 1
        if per_row != 1:
            x = np.repeat(x, per_row, axis=0)
        slots = self._slots(acts.reshape(-1), "actions")
        rew = rew.reshape(-1)
        self._check_rewards(rew)
        self._learn(x, slots, rew)
        return self

    def _check_rewards(self, rewards: np.ndarray) -> None:
        """Raise :class:`DataError` for rewards outside the model's support (override)."""

    def _learn(self, x: np.ndarray, slots: np.ndarray, rewards: np.ndarray) -> None:
        n = len(slots)
        if n == 0:
            return
        if self.window is not None:
            self._accumulate(x, slots, rewards, np.ones(n))
            buf = {"x": x, "slot": slots, "r": rewards}
            if self._win is not None:
                buf = {k: np.concatenate([self._win[k], buf[k]]) for k in buf}
            drop = max(0, len(buf["slot"]) - self.window)
            if drop:
                self._accumulate(buf["x"][:drop], buf["slot"][:drop], buf["r"][:drop], -np.ones(drop))
            self._win = {k: v[drop:] for k, v in buf.items()}
        elif self.gamma != 1.0:
            # row t of n is discounted gamma^(n-1-t) times by the end of the batch
            self._decay(self.gamma ** n)
            self._accumulate(x, slots, rewards, self.gamma ** np.arange(n - 1, -1, -1, dtype=np.float64))
        else:
            self._accumulate(x, slots, rewards, np.ones(n))
        self.t_ += n
        self._refresh()

    def _accumulate(self, x: np.ndarray, slots: np.ndarray, rewards: np.ndarray, weights: np.ndarray) -> None:
        raise NotImplementedError

    def _decay(self, factor: float) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        """Recompute caches after an update (override)."""

    def _new_arm_state(self, n: int, **features: Any) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The learned state as (arrays, JSON-able meta), random generator included."""
        arrays = {f"arm.{k}": self._state[k] for k in self._arm_fields if k in self._state}
        arrays.update({f"global.{k}": self._state[k] for k in self._global_fields if k in self._state})
        if self._win is not None:
            arrays.update({f"window.{k}": v for k, v in self._win.items()})
        arrays["arm_ids"] = self.arms_
        params = {k: v for k, v in self.get_params().items() if k != "arms" and self._jsonable(v)}
        meta = {"class": type(self).__name__, "params": params, "t": self.t_,
                "n_features": self.n_features_, "rng": self.rng_.bit_generator.state}
        return arrays, meta

    @staticmethod
    def _jsonable(v: Any) -> bool:
        return v is None or isinstance(v, (bool, int, float, str, list, tuple))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], **params: Any) -> Policy:
        """Rebuild a policy from :meth:`state_dict` output (extra ``params`` override)."""
        klass = policy_class(meta["class"])
        if cls is not Policy and not issubclass(klass, cls):
            raise ModelFileError(f"state holds a {klass.__name__}, not a {cls.__name__}")
        try:
            p = klass(**{**meta["params"], **params})
            p.arm_vocab_ = Vocab(arrays["arm_ids"])
            p.t_ = int(meta["t"])
            if meta["n_features"] is not None:
                p.n_features_ = int(meta["n_features"])
                p._init_features(p.n_features_)
            for key, val in arrays.items():
                group, _, name = key.partition(".")
                if group in ("arm", "global"):
                    p._state[name] = np.array(val)
            win = {k.partition(".")[2]: np.array(v) for k, v in arrays.items() if k.startswith("window.")}
            p._win = win or None
            p.rng_.bit_generator.state = meta["rng"]
            p._arms_changed()
            p._refresh()
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"policy state is incomplete or from another version ({exc})") from exc
        return p

    def save(self, path: str | Path) -> Path:
        """Save to folder ``path`` (``model.json`` + ``arrays.npz``; no pickle)."""
        arrays, meta = self.state_dict()
        return write_model_dir(path, {"policy": meta}, arrays)

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> Policy:
        """Load a policy saved by :meth:`save` (``Policy.load`` finds the right class)."""
        meta, arrays = read_model_dir(path)
        if "policy" not in meta:
            raise ModelFileError(f"{path} holds a model, not a bandit policy; load it with Recommender.load")
        return cls.from_state_dict(arrays, meta["policy"], **params)
