"""The /recommend hot path: raw-body validation, direct JSON responses, cached metric children, thread limits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest


def test_dump_json_matches_stdlib_and_converts_numpy():
    from shortlist.serving.fast import dump_json

    obj = {"items": [{"item_id": np.int64(7), "score": np.float32(0.5)}, {"item_id": "a\u00e9", "score": 1e-7}],
           "arr": np.arange(3), "ok": True, "none": None}
    plain = {"items": [{"item_id": 7, "score": 0.5}, {"item_id": "a\u00e9", "score": 1e-7}], "arr": [0, 1, 2],
             "ok": True, "none": None}
    assert json.loads(dump_json(obj)) == plain
    # stdlib would write the invalid token NaN; a response body must stay valid JSON
    assert json.loads(dump_json({"score": math.nan, "x": math.inf})) == {"score": None, "x": None}
    with pytest.raises((TypeError, ValueError), match="cannot serialise object"):
        dump_json({"x": object()})


def test_validation_errors_keep_fastapi_shape(client):
    r = client.post("/recommend", json={"user_id": 3, "k": "ten"})
    assert r.status_code == 422
    body = r.json()
    assert body["detail"][0]["loc"] == ["body", "k"] and body["detail"][0]["type"] == "int_type"
    assert body["error"] == "k: Input should be a valid integer"
    # the same error through FastAPI's own body handling (POST /events) has the same shape
    ev = client.post("/events", json={"events": [{"event_id": "e", "user_id": 1, "type": 3}]},
                     headers={"X-API-Key": "test-key-0123456789abcdef"}).json()
    assert ev["detail"][0]["loc"][:2] == ["body", "events"] and ev["error"].startswith("events.0.type")
    for raw in (b"", b"[1, 2]", b"{\"k\": 3", b"\xff\xfe"):
        r = client.post("/recommend", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, raw
        assert r.json()["detail"][0]["loc"][0] == "body"
    r = client.post("/recommend", json={"user_id": 3, "extra_field": 1})
    assert r.status_code == 422 and "extra_field" in r.json()["error"]


def test_response_is_json_with_the_documented_shape(client, model_dir):
    from shortlist.serving.schemas import RecommendOut

    r = client.post("/recommend", json={"user_id": 3, "k": 4, "explain": True})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    out = RecommendOut.model_validate_json(r.content)  # the shape the OpenAPI page promises
    assert len(out.items) == 4 and out.user_known and len(out.request_id) == 32
    assert int(out.request_id, 16) >= 0 and out.trace and out.trace[0]["stage"] == "candidates"
    assert "fallback" not in r.json() and "propensity" not in r.json()["items"][0]
    ids = {client.post("/recommend", json={"user_id": 3}).json()["request_id"] for _ in range(20)}
    assert len(ids) == 20


def test_openapi_documents_the_request_body(client):
    from shortlist.serving.schemas import RecommendIn

    doc = client.get("/openapi.json").json()
    op = doc["paths"]["/recommend"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RecommendIn"}
    schema = doc["components"]["schemas"]["RecommendIn"]
    assert op["requestBody"]["required"] is True
    assert set(schema["properties"]) == set(RecommendIn.model_fields) and schema["additionalProperties"] is False
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RecommendOut")


def test_metrics_count_every_request_and_stage(client):
    for _ in range(3):
        client.post("/recommend", json={"user_id": 1})
    client.post("/recommend", json={"k": "x"})
    text = client.get("/metrics").text
    assert 'shortlist_http_request_duration_seconds_count{endpoint="/recommend",method="POST",status="200"} 3.0' \
        in text
    assert 'shortlist_http_request_duration_seconds_count{endpoint="/recommend",method="POST",status="422"} 1.0' \
        in text
    stages = client.app.state.holder.current.pipeline.recommend(
        client.app.state.holder.current.pipeline.make_request(1)).trace.stages
    for st in stages:
        assert f'shortlist_stage_duration_seconds_count{{stage="{st.stage}"}} 3.0' in text


def test_thread_limits_apply_and_restore():
    import numba
    from threadpoolctl import threadpool_info

    from shortlist.serving.app import _limit_threads

    before = ([d["num_threads"] for d in threadpool_info()], numba.get_num_threads())
    restore = _limit_threads(1)
    try:
        assert all(d["num_threads"] == 1 for d in threadpool_info())
        assert numba.get_num_threads() == 1
    finally:
        restore()
    assert ([d["num_threads"] for d in threadpool_info()], numba.get_num_threads()) == before
    _limit_threads(0)()  # 0: leave the libraries alone
    assert ([d["num_threads"] for d in threadpool_info()], numba.get_num_threads()) == before


def test_settings_default_to_one_thread(model_dir, tmp_path):
    from shortlist.serving import load_settings

    assert load_settings(model_dir=model_dir, environ={}).threads == 1
    assert load_settings(model_dir=model_dir, environ={}, threads=0).threads == 0


def _bench_module():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"
    if str(path.parent) not in sys.path:  # as when run as a script: its helpers sit beside it
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("serve_load_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


WRK_OUTPUT = """Running 1m test @ http://127.0.0.1:40123
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  40.00ms   90.00%
    Req/Sec   400.00     20.00   450.00     70.00%
  Latency Distribution
     50%    2.50ms
     75%    3.00ms
     90%  850.00us
     99%    1.20s
  24000 requests in 1.00m, 10.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:    400.00
Transfer/sec:    170.00KB
non2xx 7
"""


def test_wrk_output_is_parsed_with_units_and_errors():
    bench = _bench_module()
    r = bench.parse_wrk(WRK_OUTPUT)
    assert r["requests"] == 24000 and r["rps"] == pytest.approx(400.0)
    assert r["p50"] == pytest.approx(2.5) and r["p99"] == pytest.approx(1200.0)
    assert r["errors"] == 7 + 3  # non-2xx from the Lua counter + socket errors
    with pytest.raises(SystemExit, match="could not parse"):
        bench.parse_wrk("wrk: connection refused")


@pytest.mark.slow
def test_wrk_script_drives_a_real_server_and_counts_errors(model_dir, tmp_path):
    import shutil

    from tests.serving.helpers import ServerProcess

    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    bench = _bench_module()
    good = tmp_path / "good.jsonl"
    good.write_text('{"user_id":1,"k":3}\n{"user_id":"stranger","history":[20,21],"k":3}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id":1,"k":"three"}\n')  # 422 on every request
    with ServerProcess(model_dir, tmp_path / "events.sqlite") as server:
        ok = bench.drive_wrk(server.url, good, 1.0, 2, 1)
        assert ok["requests"] > 20 and ok["errors"] == 0 and 0 < ok["p50"] <= ok["p99"]
        ko = bench.drive_wrk(server.url, bad, 1.0, 2, 1)
        assert ko["requests"] > 20 and ko["errors"] == ko["requests"]
