"""Reading the inspector's pages in tests: the item ids a page shows, by element id."""

from __future__ import annotations

import re

__all__ = ["card_ids", "explored_positions"]


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    end = html.find("</div>\n\n<h2>", start)
    return html[start:end if end > 0 else None]


def card_ids(html: str, element_id: str) -> list[str]:
    """Item ids of the cards inside the element with ``element_id``, in page order."""
    return re.findall(r'<article class="card" data-item-id="([^"]+)"', _section(html, element_id))


def explored_positions(html: str, element_id: str = "final-list") -> set[int]:
    """0-based positions of cards drawn by an exploration slot."""
    cards = re.split(r'<article class="card"', _section(html, element_id))[1:]
    return {n for n, c in enumerate(cards) if "data-propensity" in c}
