"""compare_usecase and ``shortlist demo --use-case`` on a tiny world: same traffic, the product's metric."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shortlist.cli.main import main
from shortlist.pipeline.usecases import UseCaseSpec, compare_usecase
from shortlist.pipeline.usecases.policies import PipelinePolicy, Served


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


def test_streaming_serves_the_spec_without_its_row_bandit_and_reports_the_allocation():
    res = compare_usecase("streaming", size="tiny", requests=30, seed=0, baselines=False)
    assert set(res["policies"]) == {"preset", "preset-off"}
    alloc = res["row_allocation"]
    assert alloc["pages"] == 30
    for part in ("early", "late"):
        assert sum(alloc["top_row_share"][part].values()) == pytest.approx(1.0, abs=1e-2)


def test_the_app_adds_online_plays_and_the_users_freshness_to_each_request(social):
    ucw, ds, pipe = social
    usecase = UseCaseSpec(use_case="social", metric="clicks", context=["now", "history", "freshness"])
    pol = PipelinePolicy(pipe, dataset=ds, usecase=usecase)
    now = float(ucw.cutoff)
    first = pol.request(3, 10, {"now": now}, np.zeros(0, np.int64))
    assert first.history.size == 0 and first.context["freshness_half_life_days"] > 0
    pub = np.where(ucw.world.items.publish < now, ucw.world.items.publish, -np.inf)
    newest = int(np.argmax(pub))  # the newest item out before now: a fresher taste
    pol.feedback(3, Served([np.array([newest, 1])]), [np.array([True, False])])
    again = pol.request(3, 10, {"now": now}, np.zeros(0, np.int64))
    assert again.history.tolist() == [newest] and again.history_times.tolist() == [now]
    assert again.context["freshness_half_life_days"] != first.context["freshness_half_life_days"]
