"""Filters: exclude seen items, blocklists, sensitive categories, near-duplicate dedupe."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field, field_validator

from shortlist.errors import ConfigError
from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig, context_items, member
from shortlist.rules.registry import register_rule

__all__ = ["Blocklist", "Dedupe", "ExcludeSeen", "SensitiveCategories", "tfidf_matrix"]


@register_rule("exclude_seen")
class ExcludeSeen(Rule):
    """Drop items the user already knows: training items, ``request.history``, ``request.exclude``.

    Drops are recorded as ``"seen"`` (training or history) and ``"excluded"`` (request.exclude).
    """

    class Config(RuleConfig):
        training: bool = Field(
            True,
            description="true or false: drop the user's training items "
            "(needs the 'seen' attribute)",
        )
        history: bool = Field(True, description="true or false: drop the items of request.history")
        exclude: bool = Field(True, description="true or false: drop the items of request.exclude")

    def _build(self) -> None:
        if self.config.training:
            self.attributes.require("seen", self.kind)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop seen and excluded candidates."""
        items = candidates.items
        cfg = self.config
        refs = []
        if cfg.training and request.known_user:
            refs.append(self.attributes.seen_items(request.user_index))
        if cfg.history and len(request.history):
            refs.append(np.asarray(request.history, np.int64).ravel())
        seen = member(items, np.concatenate(refs) if len(refs) > 1 else refs[0]) if refs else None
        excluded = None
        if cfg.exclude and len(request.exclude):
            excluded = member(items, np.asarray(request.exclude, np.int64).ravel())
        if seen is None and excluded is None:
            return candidates, []
        codes = np.full(items.shape, -1, np.int64)
        if excluded is not None:
            codes[excluded] = 1
        if seen is not None:
            codes[seen] = 0  # "seen" wins when an item is both
        return self._filter(candidates, codes, ("seen", "excluded"))


@register_rule("blocklist")
class Blocklist(Rule):
    """Drop globally blocked items (config ``items``) and per-request ``context["blocklist"]``.

    Drops are recorded as ``"blocklisted"``.
    """

    class Config(RuleConfig):
        items: list[int | str] = Field(
            default_factory=list, description="a list of item ids to block everywhere"
        )
        context_key: str = Field(
            "blocklist", description="the request context key holding item indices to block"
        )
        ignore_unknown: bool = Field(
            False, description="true to skip ids that are not in the catalog"
        )

    def _build(self) -> None:
        idx = self.attributes.index_of(self.config.items, what="items")
        if (idx < 0).any() and not self.config.ignore_unknown:
            bad = [self.config.items[i] for i in np.flatnonzero(idx < 0)[:5]]
            raise ConfigError(
                f"rule {self.kind!r}: items={bad!r} are not in the catalog; fix: remove them "
                "or set ignore_unknown = true"
            )
        self.blocked_ = np.unique(idx[idx >= 0])  # sorted, for a binary search per request

    def context_item_keys(self) -> dict[str, str]:
        return {self.config.context_key: "items"}

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop blocked candidates."""
        items = candidates.items
        hit = member(items, self.blocked_, assume_sorted=True)
        if request.context.get(self.config.context_key) is not None:
            hit = hit | member(items, context_items(request, self.config.context_key))
        if not hit.any():
            return candidates, []
        return self._filter(candidates, np.where(hit, 0, -1), ("blocklisted",))


@register_rule("sensitive_categories")
class SensitiveCategories(Rule):
    """Drop items in sensitive categories or carrying sensitive flags, unless the request opts in.

    ``context[opt_in_key]`` = true allows everything; a list of names allows those categories
    or flags. Drops are recorded as ``"sensitive:<name>"`` (the first matching name in config
    order: categories, then flags).
    """

    class Config(RuleConfig):
        categories: list[str] = Field(
            default_factory=list, description="a list of category names to hide"
        )
        flags: list[str] | None = Field(
            None,
            description="a list of sensitive flag names to hide "
            "(default: every flag of the 'sensitive' attribute)",
        )
        opt_in_key: str = Field(
            "allow_sensitive", description="the request context key of the opt-in"
        )

    def _build(self) -> None:
        cfg, attrs = self.config, self.attributes
        if cfg.categories:
            attrs.require("category", self.kind)
        if cfg.flags or (cfg.flags is None and not cfg.categories):
            attrs.require("sensitive", self.kind)
        labels: list[str] = []
        mask = np.zeros(attrs.n_items, np.uint64)
        for name in cfg.categories:
            if name not in attrs.category_names:
                raise ConfigError(
                    f"rule {self.kind!r}: categories contains {name!r}, not a category; fix: use "
                    f"names from {', '.join(attrs.category_names[:20])}"
                )
            mask[attrs.category == attrs.category_names.index(name)] |= np.uint64(1) << np.uint64(
                len(labels)
            )
            labels.append(name)
        flags = list(attrs.sensitive_names) if cfg.flags is None else cfg.flags
        csc = attrs.sensitive.tocsc() if attrs.sensitive is not None else None
        for name in flags:
            if name not in attrs.sensitive_names:
                raise ConfigError(
                    f"rule {self.kind!r}: flags contains {name!r}, not a sensitive flag; fix: use "
                    f"names from {', '.join(attrs.sensitive_names[:20]) or '(none)'}"
                )
            j = attrs.sensitive_names.index(name)
            rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
            mask[rows] |= np.uint64(1) << np.uint64(len(labels))
            labels.append(name)
        if len(labels) > 64:
            raise ConfigError(
                f"rule {self.kind!r}: {len(labels)} sensitive names, at most 64 are supported; "
                "fix: merge flags into fewer columns"
            )
        self.labels_ = labels
        self.reasons_ = [f"sensitive:{name}" for name in labels]
        self.mask_ = mask

    def _allowed_bits(self, request: Request) -> np.uint64 | None:
        opt = request.context.get(self.config.opt_in_key)
        if opt is True:
            return None
        if not opt:
            return np.uint64(0)
        names = {opt} if isinstance(opt, str) else set(opt)
        bits = 0
        for b, label in enumerate(self.labels_):
            if label in names:
                bits |= 1 << b
        return np.uint64(bits)

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop sensitive candidates the request did not opt in to."""
        allowed = self._allowed_bits(request)
        if allowed is None or not self.labels_:
            return candidates, []
        bad = self.mask_[candidates.items]
        if allowed:
            bad = bad & ~allowed
        hit = bad != 0
        if not hit.any():
            return candidates, []
        codes = np.full(bad.shape, -1, np.int64)
        low = bad[hit] & (~bad[hit] + np.uint64(1))  # lowest set bit = first name in config order
        codes[hit] = np.round(np.log2(low.astype(np.float64))).astype(np.int64)
        return self._filter(candidates, codes, self.reasons_)


_TOKEN = re.compile(r"\w+")


def _dense_rows(m: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Rows of a CSR as a dense block over only the columns they use (no scipy overhead)."""
    starts, ends = m.indptr[rows], m.indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    out_row = np.repeat(np.arange(rows.shape[0]), lengths)
    pos = (
        np.arange(total)
        - np.repeat(np.cumsum(lengths) - lengths, lengths)
        + np.repeat(starts, lengths)
    )
    cols, local = np.unique(m.indices[pos], return_inverse=True)
    dense = np.zeros((rows.shape[0], cols.shape[0]), np.float32)
    dense[out_row, local.ravel()] = m.data[pos]
    return dense


def _repeats(codes: np.ndarray) -> bool:
    """Whether a code >= 0 occurs twice."""
    s = np.sort(codes[codes >= 0])
    return bool((s[1:] == s[:-1]).any())


def tfidf_matrix(text: np.ndarray | sp.csr_matrix) -> sp.csr_matrix:
    """L2-normalized TF-IDF rows (smooth idf) from texts or an item x token count matrix."""
    if sp.issparse(text):
        counts = sp.csr_matrix(text, dtype=np.float32)
    else:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, doc in enumerate(text.tolist()):  # one-off at build time, not in the request path
            for tok in _TOKEN.findall(doc.lower()):
                rows.append(i)
                cols.append(vocab.setdefault(tok, len(vocab)))
        counts = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(text.shape[0], len(vocab))
        )
        counts.sum_duplicates()
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    m = counts @ sp.diags(idf)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    m = (
        sp.diags(
            np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
        )
        @ m
    )
    return sp.csr_matrix(m, dtype=np.float32)


@register_rule("dedupe")
class Dedupe(Rule):
    """Keep one candidate per near-duplicate cluster: the best-scored one.

    Two candidates are duplicates when they share a ``duplicate_group`` (the same item under
    several ids), a ``content_hash``, or when the cosine of their TF-IDF ``text`` vectors is
    at least ``text_threshold``. Candidates are visited best score first (ties: earlier
    position); one that duplicates an already kept candidate is dropped as
    ``"duplicate-of:<kept item index>"``. Kept candidates stay in their order.
    """

    class Config(RuleConfig):
        by: list[Literal["duplicate_group", "content_hash", "text"]] = Field(
            default_factory=lambda: ["duplicate_group"],
            description="a non-empty list of 'duplicate_group', 'content_hash', 'text'",
        )
        text_threshold: float = Field(
            0.9, gt=0.0, le=1.0, description="a cosine in (0, 1] for text duplicates"
        )

        @field_validator("by")
        @classmethod
        def _non_empty(cls, v: list[str]) -> list[str]:
            if not v:
                raise ValueError("must name at least one criterion")
            return v

    def _build(self) -> None:
        for attr in self.config.by:
            self.attributes.require(attr, self.kind)
        self.tfidf_ = tfidf_matrix(self.attributes.text) if "text" in self.config.by else None

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Drop near-duplicates of better-scored candidates."""
        n = len(candidates)
        if n < 2:
            return candidates, []
        items = candidates.items
        keys = [
            getattr(self.attributes, a)[items]
            for a in ("duplicate_group", "content_hash")
            if a in self.config.by
        ]
        if self.tfidf_ is None and not any(_repeats(g) for g in keys):
            return candidates, []  # the common case: no shared key, no pairwise work
        order = np.lexsort((np.arange(n), -candidates.scores.astype(np.float64)))
        ordered = items[order]
        same = np.zeros((n, n), bool)
        for g in keys:
            g = g[order]
            same |= (g[:, None] == g[None, :]) & (g >= 0)[:, None]
        if self.tfidf_ is not None:
            x = _dense_rows(self.tfidf_, ordered)
            same |= x @ x.T >= self.config.text_threshold - 1e-6
        rows, cols = np.nonzero(same)
        below = cols < rows  # (i, j): i duplicates the better-scored j
        if not below.any():
            return candidates, []
        # greedy in score order over the few conflicting pairs, in plain Python (row-major,
        # so each i sees its candidates j best first)
        kept = [True] * n
        target: dict[int, list[int]] = {}
        for i, j in zip(rows[below].tolist(), cols[below].tolist()):
            if kept[i] and kept[j]:
                kept[i] = False
                target.setdefault(int(ordered[j]), []).append(int(ordered[i]))
        drops = [
            Drop(
                stage=self.name, reason=f"duplicate-of:{t}", items=np.sort(np.asarray(d, np.int64))
            )
            for t, d in target.items()
        ]
        mask = np.ones(n, bool)
        mask[order[~np.asarray(kept)]] = False
        return candidates.take(mask), drops
