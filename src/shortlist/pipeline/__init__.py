"""Pipelines: TOML spec -> sources -> ranking stages -> rules -> response with a trace."""

from shortlist.pipeline.evaluate import evaluate_pipeline
from shortlist.pipeline.pipeline import Pipeline, Response
from shortlist.pipeline.spec import PipelineSpec, load_spec, parse_spec
from shortlist.pipeline.trace import StageTrace, Trace

__all__ = ["Pipeline", "PipelineSpec", "Response", "StageTrace", "Trace", "evaluate_pipeline", "load_spec",
           "parse_spec"]
