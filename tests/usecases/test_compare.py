"""compare_usecase and ``shortlist demo --use-case`` on a tiny world: same traffic, the product's metric."""

from __future__ import annotations

import json

from shortlist.cli.main import main
from shortlist.pipeline.usecases import compare_usecase


def test_delivery_preset_serves_no_violations_and_outsells_the_generic_pipelines():
    res = compare_usecase("delivery", size="tiny", requests=80, seed=0)
    pol = res["policies"]
    assert set(pol) == {"preset", "default", "popularity"}
    assert sum(pol["preset"]["violations"].values()) == 0
    assert sum(pol["default"]["violations"].values()) > 0  # the generic pipeline knows no radius
    assert pol["preset"]["per_100"] > max(pol["default"]["per_100"], pol["popularity"]["per_100"])


def test_demo_use_case_prints_the_metric_and_writes_the_result(tmp_path, capsys):
    rc = main(["demo", "--use-case", "news", "--use-case-size", "tiny", "--requests", "40", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "clicks on stories under 24 h old per 100 requests" in out
    res = json.loads((tmp_path / "usecase-news.json").read_text())
    assert res["requests"] == 40 and res["policies"]["preset"]["shown"] == 400
