"""The report's pieces: Gini of exposure, escaped SVG labels, a self-contained file."""

from __future__ import annotations

import re

import numpy as np

from shortlist.data.splits import random_holdout
from shortlist.models.registry import create_model
from shortlist.report import collect_run, gini, write_report
from shortlist.report.svg import bar_chart, histogram
from tests.conftest import block_interactions


def test_gini_of_exposure():
    assert gini(np.array([3, 3, 3, 3])) == 0.0
    assert gini(np.array([0, 0, 0, 4])) == 0.75
    assert gini(np.zeros(5)) == 0.0


def test_svg_escapes_labels_and_counts_bins():
    svg = bar_chart(["<script>x</script>"], [1.0], title="a & b")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    counts = [int(c) for c in re.findall(r'data-count="(\d+)"', histogram([0, 1, 1, 2, 9], title="h", bins=3))]
    assert counts == [4, 0, 1]


def test_report_is_one_file_with_no_link_out(tmp_path):
    data = block_interactions()
    split = random_holdout(data, 0.25, seed=0)
    runs = [collect_run(name, create_model(name).fit(split.train, progress=False), split, k=5, kmax=10)
            for name in ("popularity", "item-knn")]
    path = tmp_path / "r.html"
    size = write_report(runs, path)
    html = path.read_text()
    assert size == len(html.encode())
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html
    rows = re.findall(r"<tr><td>(popularity|item-knn)</td><td>([\d.]+)</td>", html)
    assert [r[0] for r in rows[:2]] == ["popularity", "item-knn"]
    assert float(rows[0][1]) == round(runs[0].metric_at("final", "ndcg", 5), 4)
