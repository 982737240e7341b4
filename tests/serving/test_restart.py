"""Restart safety: after a graceful stop or a SIGKILL, a server rebuilds its online state from checkpoint + log.

Each case runs two real `shortlist serve` processes on the same events: one that is
restarted and one that never is; afterwards both must answer the same for the users the
events touched (recommendation lists, online history, vectors, trending).
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from tests.online.test_state import redis_url  # noqa: F401 - fixture
from tests.serving.helpers import API_KEY, ServerProcess, event, train_tiny

pytestmark = pytest.mark.slow

AUTH = {"X-API-Key": API_KEY}
USERS = ["7", "3", "12", "newcomer"]
T0 = time.time() - 600


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("restart") / "v1")


def _batches(rounds: int, start: int = 0) -> list[list[dict]]:
    """Deterministic click batches (explicit timestamps: both servers weigh trending alike)."""
    out = []
    for b in range(start, start + rounds):
        out.append([event(f"e{b}-{j}", USERS[(b + j) % len(USERS)], (3 * b + 5 * j) % 30, timestamp=T0 + b)
                    for j in range(3)])
    return out


def _post(url: str, batches: list[list[dict]]) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as c:
        for batch in batches:
            r = c.post("/events", json={"events": batch})
            assert r.status_code == 200 and r.json()["accepted"] == len(batch), r.text


def _observe(url: str) -> dict:
    """What a client can see of the online state of USERS."""
    out: dict = {}
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as c:
        for u in USERS:
            user = int(u) if u.isdigit() else u
            r = c.post("/recommend", json={"user_id": user, "k": 29})
            assert r.status_code == 200, r.text
            out[f"rec {u}"] = [it["item_id"] for it in r.json()["items"]]
            state = c.get(f"/admin/users/{u}").json()
            out[f"history {u}"] = state["history"]
            out[f"vectors {u}"] = state["vectors"]
        out["trending"] = [(it["item_id"], it["score"]) for it in c.get("/items/trending?k=30").json()["items"]]
    return out


def _settings(path, **kw) -> str:
    lines = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
             for k, v in kw.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("how", ["graceful", "sigkill"])
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_restart_serves_what_a_never_restarted_server_serves(model_dir, tmp_path, request, how, backend):
    from shortlist.online.checkpoint import load_checkpoint
    from shortlist.online.event_log import EventLog

    # checkpoints every 7 events: the restart loads one and replays the events after it
    common = {"checkpoint_every_events": 7, "checkpoint_every_s": 0}
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        common.update(state="redis", redis_url=url)
    cfg_r = _settings(tmp_path / "r.toml", redis_prefix=f"r-{how}-{time.time_ns()}", **common)
    cfg_n = _settings(tmp_path / "n.toml", redis_prefix=f"n-{how}-{time.time_ns()}", **common)
    db_r, db_n = tmp_path / "r" / "events.sqlite", tmp_path / "n" / "events.sqlite"
    db_r.parent.mkdir()
    db_n.parent.mkdir()
    first, late = _batches(10), _batches(2, start=10)
    with ServerProcess(model_dir, db_n, "--config", cfg_n) as never:
        server = ServerProcess(model_dir, db_r, "--config", cfg_r).wait_ready()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                top = c.post("/recommend", json={"user_id": 7, "k": 5}).json()["items"][0]["item_id"]
            click = [[event("click-top", "7", top, timestamp=T0 + 9.5)]]
            _post(server.url, first + click)
            _post(never.url, first + click)
            before = _observe(server.url)
            assert top not in before["rec 7"], "a clicked item must leave the user's list"
        finally:
            server.kill() if how == "sigkill" else server.stop()
        if how == "graceful" and backend == "memory":
            _, meta = load_checkpoint(db_r.with_name("events.state.npz"))
            with EventLog(db_r) as log:
                assert meta["seq"] == log.last_seq() and meta["pending"] == []  # shutdown wrote a full checkpoint
        # events committed while the state did not take them (as after a kill between commit and apply)
        from shortlist.online.event_log import LoggedEvent

        with EventLog(db_r) as log:
            for batch in late:
                log.append([LoggedEvent(e["event_id"], e["user_id"], str(e["item_id"]), e["type"], e["timestamp"])
                            for e in batch])
        _post(never.url, late)
        with ServerProcess(model_dir, db_r, "--config", cfg_r) as again:
            after = _observe(again.url)
        expected = _observe(never.url)
    assert top not in after["rec 7"]
    for key, value in expected.items():
        if key != "trending":
            assert after[key] == value, key
    # scores are decayed to the moment of the request: the two were read a few seconds apart
    assert [i for i, _ in after["trending"]] == [i for i, _ in expected["trending"]]
    assert [s for _, s in after["trending"]] == pytest.approx([s for _, s in expected["trending"]], rel=1e-3)
    assert {"item_id": str(top), "weight": 1.0} in after["history 7"]
    assert all(after[f"vectors {u}"] == {"mf": True} for u in ("7", "3", "12"))
    assert len(after["trending"]) == 30


def test_restart_reloads_vectors_into_the_served_model(model_dir, tmp_path):
    """Checkpointed vectors equal a fresh fold-in of the restored history (independent computation)."""
    from fastapi.testclient import TestClient

    from tests.serving.helpers import make_app

    with TestClient(make_app(model_dir, tmp_path, checkpoint_every_events=0, checkpoint_every_s=0)) as c:
        _post_client(c, _batches(6))
    with TestClient(make_app(model_dir, tmp_path)) as c:
        st = c.app.state
        mv = st.holder.current
        mf = mv.pipeline.models_["mf"]
        for u in ("7", "3", "12"):
            row = st.updater.user_row(mf, int(mv.pipeline.users_.index([u])[0]), st.state.history(u))
            expected = mf.fold_in_users(row)[0]
            idx = int(mv.pipeline.users_.index([u])[0])
            assert np.array_equal(mf.user_factors_[idx], expected)
            assert np.array_equal(st.state.get_vector(f"{mv.version}/mf", u), expected)


def _post_client(client, batches) -> None:
    for batch in batches:
        assert client.post("/events", headers=AUTH, json={"events": batch}).status_code == 200


def test_rows_for_many_users_equal_row_by_row(model_dir):
    """The batched rows of a restart's fold-in equal the live one-user rows, bit for bit (so do the vectors)."""
    import random

    import scipy.sparse as sp

    from tests.serving.helpers import make_app

    app = make_app(model_dir, model_dir.parent / "rows")
    up, mf = app.state.updater, app.state.holder.current.pipeline.models_["mf"]
    rng = random.Random(0)
    histories = [[(str(rng.randrange(35)), rng.choice([1.0, 0.5, 0.0, -1.0, 3.0])) for _ in range(rng.randrange(6))]
                 + [("abc", 1.0)] for _ in range(50)]
    users = [rng.randrange(-1, 45) for _ in range(50)]  # unknown (-1, >= 40) and known users
    many = up.user_rows(mf, users, histories)
    one_by_one = sp.vstack([up.user_row(mf, u, h) for u, h in zip(users, histories)], format="csr")
    assert (many != one_by_one).nnz == 0 and np.array_equal(many.indices, one_by_one.indices)
    assert np.array_equal(mf.fold_in_users(many), np.vstack([mf.fold_in_users(up.user_row(mf, u, h))
                                                            for u, h in zip(users, histories)]))
