"""The DeepFM ranker, reached from the ranking layer only when asked for (torch is optional)."""

from __future__ import annotations

from shortlist.errors import ConfigError

__all__ = ["deepfm_ranker_class"]


def deepfm_ranker_class() -> type:
    """:class:`shortlist.neural.DeepFMRanker`, imported on first use (needs the ``neural`` extra)."""
    try:
        from shortlist.neural.ranker import DeepFMRanker
    except ImportError as exc:
        raise ConfigError(f"DeepFM ranking needs PyTorch ({exc}); install it with "
                          "pip install 'shortlist[neural]' or use a LightGBM ranker") from None
    return DeepFMRanker
