"""Request and Candidates: what flows from retrieval through ranking and rules to the response.

Every component takes the same two things and hands on candidates: a source, a ranking
stage and a rule are each called as ``component(request, candidates) -> candidates``. The
request carries ``k`` and, inside a pipeline, its :class:`Exclusions` (computed once); the
candidates carry their scores, provenance, feature rows and the drops recorded so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shortlist.errors import DataError

__all__ = ["Request", "Candidates", "Drop", "Exclusions"]


@dataclass(frozen=True)
class Exclusions:
    """A request's exclusion sets (sorted, unique item indices), computed once per request.

    ``all``: the user's training items, ``request.history`` and ``request.exclude``;
    ``asked``: ``request.exclude`` alone, for sources declared with ``exclude_seen = false``
    (they may propose seen items, e.g. to re-recommend; a later rule can still drop them).
    """

    all: np.ndarray
    asked: np.ndarray

    def for_source(self, exclude_seen: bool) -> np.ndarray:
        """The set a source uses: ``all``, or ``asked`` when it keeps seen items."""
        return self.all if exclude_seen else self.asked


@dataclass
class Request:
    """One recommendation request.

    ``user_index`` is the dense index of a known user, or -1 for an anonymous/new user who
    is described by ``history`` (item indices, oldest first) and ``context``. ``context``
    carries anything stages may use: ``lat``/``lon``, ``price_min``/``price_max``, ``now``
    (epoch seconds), ``device``, ``blocklist`` (item indices), ``pinned`` ...
    """

    user_index: int = -1
    user_id: Any = None
    k: int = 10
    history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    history_times: np.ndarray | None = None
    context: dict[str, Any] = field(default_factory=dict)
    exclude: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: set by a pipeline for its components (once per request); ``None``: each source computes its own
    exclusions: Exclusions | None = None
    #: the user's current vectors from the online state, by the model object they replace the learned
    #: row of (``Pipeline.make_request(user_vectors={model name: vector})`` fills it): the online
    #: update is applied per request, never written into a shared model by a read
    user_vectors: dict[int, np.ndarray] | None = None

    @property
    def known_user(self) -> bool:
        return self.user_index >= 0

    @property
    def now(self) -> float | None:
        return self.context.get("now")

    def vector_for(self, model: Any) -> np.ndarray | None:
        """The online vector this request carries for ``model`` (None: use the model's own row)."""
        return None if not self.user_vectors else self.user_vectors.get(id(model))


@dataclass
class Drop:
    """Why items were removed by a stage or rule."""

    stage: str
    reason: str
    items: np.ndarray


@dataclass
class Candidates:
    """Items under consideration for one request, with scores and provenance.

    ``items`` are dense item indices (unique); ``scores`` the current ranking score (set by
    the last stage that scored); ``source_scores[name]`` / ``source_ranks[name]`` hold each
    candidate source's score and rank (NaN / -1 where that source did not propose the item);
    ``features`` holds per-candidate feature columns assembled for rankers; ``rows`` the
    feature matrix ranking stages read (one row per candidate); ``drops`` what rules removed
    so far, with reasons.
    """

    items: np.ndarray
    scores: np.ndarray
    source_scores: dict[str, np.ndarray] = field(default_factory=dict)
    source_ranks: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None
    drops: list[Drop] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.items = np.asarray(self.items, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.items.shape != self.scores.shape:
            raise DataError(f"candidates: {self.items.shape[0]} items but {self.scores.shape[0]} scores")

    def __len__(self) -> int:
        return int(self.items.shape[0])

    @classmethod
    def empty(cls) -> "Candidates":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32))

    def take(self, index: np.ndarray) -> "Candidates":
        """Subset/reorder by positions (or a boolean mask), keeping every aligned column."""
        index = np.asarray(index)
        return Candidates(
            self.items[index], self.scores[index],
            {k: v[index] for k, v in self.source_scores.items()},
            {k: v[index] for k, v in self.source_ranks.items()},
            {k: v[index] for k, v in self.features.items()},
            None if self.rows is None else self.rows[index],
            list(self.drops),
        )

    def sorted(self) -> "Candidates":
        """Best score first (ties: lower item index first, for determinism).

        Returns ``self`` when the scores already strictly decrease, a reordered copy otherwise.
        """
        s = self.scores
        if (s[1:] < s[:-1]).all():  # already strictly decreasing (ANN output; NaN fails)
            return self
        return self.take(np.lexsort((self.items, -self.scores)))

    def top(self, n: int) -> "Candidates":
        """The ``n`` best by score, best first."""
        if n >= len(self):
            return self.sorted()
        part = np.argpartition(-self.scores, n - 1)[:n]
        sub = self.take(part)
        return sub.sorted()

    def sources_of(self, position: int) -> list[str]:
        """Names of the sources that proposed the candidate at ``position``."""
        return [name for name, ranks in self.source_ranks.items() if ranks[position] >= 0]
