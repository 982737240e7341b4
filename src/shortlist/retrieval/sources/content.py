"""ContentSource: TF-IDF over item text, tags and categories; cosine to the user's profile."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydantic
import scipy.sparse as sp

from shortlist.data.facts import Need
from shortlist.data.features import FeatureTable
from shortlist.errors import ConfigError
from shortlist.retrieval.sources.base import (
    SOURCES,
    CandidateSource,
    RecentItems,
    SourceConfig,
    SourceContext,
    request_recent,
)
from shortlist.retrieval.types import Request

__all__ = ["ContentConfig", "ContentSource", "item_tokens", "tfidf"]

_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)


def item_tokens(table: FeatureTable, columns: Sequence[str] | None = None) -> tuple[sp.csr_matrix, list[str]]:
    """Entity x token count matrix from text (words), multi (tags) and categorical columns.

    Tokens are prefixed by their column (``genre=Comedy``, ``title:star``) so the same word
    in two columns stays two features. Numeric columns are ignored.
    """
    blocks, names = [], []
    for col in columns or table.names:
        kind = table.kinds.get(col)
        if kind is None:
            raise ConfigError(f"no item feature {col!r}; available: {', '.join(table.names) or 'none'}")
        if kind == "multi":
            m, toks = table.multi_hot(col)
            blocks.append(sp.csr_matrix(m, dtype=np.float32))
            names += [f"{col}={t}" for t in toks]
        elif kind == "categorical":
            blocks.append(table.one_hot(col))
            names += [f"{col}={t}" for t in table.categorical(col)[1]]
        elif kind == "text":
            docs = [_WORD.findall(t.lower()) for t in table.text(col)]
            vocab = sorted({w for d in docs for w in d})
            pos = {w: i for i, w in enumerate(vocab)}
            rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
            cols = np.fromiter((pos[w] for d in docs for w in d), np.int64, count=rows.size)
            m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(len(docs), len(vocab)))
            m.sum_duplicates()
            blocks.append(m)
            names += [f"{col}:{w}" for w in vocab]
    if not blocks:
        return sp.csr_matrix((len(table.vocab), 0), dtype=np.float32), []
    return sp.hstack(blocks, format="csr", dtype=np.float32), names


def tfidf(counts: sp.csr_matrix, *, sublinear_tf: bool = True) -> sp.csr_matrix:
    """Row-L2-normalised TF-IDF: ``tf * (ln((1 + n) / (1 + df)) + 1)``, tf = ``1 + ln(count)`` if sublinear."""
    m = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    n = m.shape[0]
    df = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float64)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    tf = 1.0 + np.log(m.data) if sublinear_tf else m.data.astype(np.float64)
    m.data = (tf * idf[m.indices]).astype(np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)


class ContentConfig(SourceConfig):
    """Parameters of :class:`ContentSource`."""

    columns: list[str] | None = None
    n_recent: int = pydantic.Field(default=50, gt=0)
    recency_decay: float = pydantic.Field(default=1.0, gt=0, le=1)
    max_profile_tokens: int | None = pydantic.Field(default=30, gt=0)
    sublinear_tf: bool = True


@SOURCES.register("content")
class ContentSource(CandidateSource):
    """Items whose TF-IDF vector is closest (cosine) to the user's profile.

    Item vectors ``t_i`` are TF-IDF rows over the tokens of ``columns`` of the item features
    (all text, multi and categorical columns by default), L2-normalised. The profile is
    ``p = sum_p decay^p t_{h_p} / sum_p decay^p`` over the ``n_recent`` newest history items
    and ``score_i = t_i . p / |p|`` - one sparse matrix-vector product over the items that
    share a token with the profile. ``max_profile_tokens`` keeps the profile's strongest
    tokens only (``None``: all), which bounds the cost of a request on large catalogs.
    """

    Config = ContentConfig

    @classmethod
    def needs(cls, config: dict[str, Any]) -> list[Need]:
        """Its item feature columns (any item feature table when none are named)."""
        cols = config.get("columns")
        return [Need("item_feature", c) for c in cols] if cols else [Need("item_features")]

    def _fit(self, context: SourceContext) -> None:
        table = context.item_features
        if table is None:
            raise ConfigError(
                f"source {self.source_name!r} needs item features (text, tags or categories); "
                "give the context item_features")
        if len(table.vocab) != self.n_items_:
            raise ConfigError(f"source {self.source_name!r}: item features have {len(table.vocab)} rows, "
                              f"the interactions {self.n_items_} items; align them on the same vocab")
        counts, self.tokens_ = item_tokens(table, self.columns)
        self.item_vectors_ = tfidf(counts, sublinear_tf=self.sublinear_tf)
        # tokens x items: a profile's tokens select the columns of the matching items
        self._by_token = self.item_vectors_.T.tocsr()
        self.recent_ = RecentItems(context.interactions, self.n_recent)

    def profile(self, request: Request) -> sp.csr_matrix:
        """The request's (1 x tokens) profile, L2-normalised (empty when there is no history)."""
        recent = request_recent(request, self.recent_, self.n_recent)
        recent = recent[(recent >= 0) & (recent < self.n_items_)]
        if recent.size == 0:
            return sp.csr_matrix((1, self.item_vectors_.shape[1]), dtype=np.float32)
        w = (float(self.recency_decay) ** np.arange(recent.size)).astype(np.float32)
        rows = sp.csr_matrix((w, (np.zeros(recent.size, np.int64), recent)),
                             shape=(1, self.n_items_))
        p = sp.csr_matrix(rows @ self.item_vectors_)
        m = self.max_profile_tokens
        if m is not None and p.nnz > m:
            # the strongest tokens only: each token costs a pass over the items that carry it
            keep = np.argpartition(-p.data, m - 1)[:m]
            p = sp.csr_matrix((p.data[keep], p.indices[keep], [0, m]), shape=p.shape)
            p.sort_indices()
        norm = float(np.sqrt((p.data.astype(np.float64) ** 2).sum()))
        if norm > 0:
            p.data /= norm
        return p

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.profile(request)
        if p.nnz == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = sp.csr_matrix(p @ self._by_token)
        scores.eliminate_zeros()
        return scores.indices.astype(np.int64), scores.data
