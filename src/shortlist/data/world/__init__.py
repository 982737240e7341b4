"""Synthetic world: Shortlist's built-in dataset and a ground-truth simulator.

``generate_world("small")`` draws users, items, a follow graph, an event log and logged
impressions from one seeded generative story (see ``docs/world.md``); ``World.dataset()``
is the offline view, and ``World.click_probability`` & co. give the ground truth for
bandit and online experiments.
"""

from shortlist.data.world.config import PRESETS, WorldConfig
from shortlist.data.world.generator import START, generate_world
from shortlist.data.world.simulator import EVENT_TYPES, Events, Impressions, World

__all__ = [
    "EVENT_TYPES",
    "PRESETS",
    "START",
    "Events",
    "Impressions",
    "World",
    "WorldConfig",
    "generate_world",
]
