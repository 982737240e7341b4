"""The DeepFM ranker, reached from the ranking layer only when asked for (torch is optional).

Layering rule (enforced by tests/test_layering.py): ``shortlist.neural`` is an optional extra
that sits beside the models, below retrieval and ranking; it may import ``core``/``errors``/
``params``, ``data`` and ``models`` only (its per-query NDCG comes from
``shortlist.core.metrics``, not from this package). Ranking reaches it only through the lazy
import inside :func:`deepfm_ranker_class`, so that ``shortlist.ranking`` imports without torch.
"""

from __future__ import annotations

from shortlist.errors import ConfigError

__all__ = ["deepfm_ranker_class"]


def deepfm_ranker_class() -> type:
    """:class:`shortlist.neural.DeepFMRanker`, imported on first use (needs the ``neural`` extra)."""
    try:  # lazy on purpose: neural needs torch (see the module docstring)
        from shortlist.neural.ranker import DeepFMRanker
    except ImportError as exc:
        raise ConfigError(f"DeepFM ranking needs PyTorch ({exc}); install it with "
                          "pip install 'shortlist[neural]' or use a LightGBM ranker") from None
    return DeepFMRanker
