"""The essay's six products end to end: a world preset, a spec, simulated traffic and the product's metric.

``compare_usecase("news", seed=0)`` trains the product's spec (``configs/usecases/news.toml``),
the generic default pipeline and popularity on the same training log, serves the same
simulated requests to each and returns the product's business metric per policy.
"""

from shortlist.pipeline.usecases.compare import compare_usecase, plot_comparison
from shortlist.pipeline.usecases.spec import UseCaseSpec, load_usecase, usecase_config_path

__all__ = ["UseCaseSpec", "compare_usecase", "load_usecase", "plot_comparison", "usecase_config_path"]
