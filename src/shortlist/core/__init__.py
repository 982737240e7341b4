"""The ground floor: helpers that every layer of ``shortlist`` may import.

Nothing here imports another ``shortlist`` package except ``shortlist.errors``, which is
ground floor too (as is ``shortlist.params``). ``tests/test_layering.py`` enforces the order
of the layers above it.

* :mod:`shortlist.core.metrics` - the metric kernels (``ranking_metrics``, ``hit_matrix``,
  ``query_ndcg``) shared by models, neural rankers, the tuner and the evaluator;
* :mod:`shortlist.core.validation` - pydantic ``ValidationError`` -> ``ConfigError`` in the
  project's wording (key, value received, fix);
* :mod:`shortlist.core.version` - ``__version__``.
"""

from shortlist.core.metrics import RANKING_METRICS, hit_matrix, query_ndcg, ranking_metrics
from shortlist.core.validation import config_error, validate_config
from shortlist.core.version import __version__

__all__ = [
    "RANKING_METRICS",
    "__version__",
    "config_error",
    "hit_matrix",
    "query_ndcg",
    "ranking_metrics",
    "validate_config",
]
