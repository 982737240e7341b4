"""Self-tuning of a pipeline on validation folds of its training data (see docs/tuning.md)."""

from shortlist.pipeline.tuning.report import ModelTuning, TuningReport
from shortlist.pipeline.tuning.tuner import TuningResult, auto_budget, fit_tuned, tune_pipeline

__all__ = ["ModelTuning", "TuningReport", "TuningResult", "auto_budget", "fit_tuned", "tune_pipeline"]
