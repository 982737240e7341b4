"""The online-fm ranking stage: served order follows online training; a request sees one whole version."""

import threading

import numpy as np
import pytest

from shortlist.data import Vocab
from shortlist.errors import ConfigError
from shortlist.online.event_log import LoggedEvent
from shortlist.online.training import ListStream, OnlineModelReader, OnlineTrainer, SqliteStream, TrainerConfig
from shortlist.online.training.ranking import OnlineScorer, attach_online
from shortlist.pipeline import Pipeline
from tests.conftest import block_interactions
from tests.serving.helpers import API_KEY, TINY_SPEC, make_app, train_tiny

SPEC = {**TINY_SPEC, "stages": [{"name": "online", "kind": "online-fm", "budget": 30}]}
CONFIG = {"lr": 0.3, "batch_size": 16, "table": {"dim": 4, "max_rows": 1000, "admit_after": 1, "sketch_width": 1024},
          "joiner": {"window_s": 30.0}}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def test_a_click_trained_online_moves_that_item_to_the_top_over_http(tmp_path):
    from fastapi.testclient import TestClient

    model_dir = train_tiny(tmp_path / "v1", spec=SPEC)
    # no fold-in, and a click is not "seen": the candidates stay the same, so only the online FM can reorder them
    app = make_app(model_dir, tmp_path, fold_in=False, non_interaction_types=["impression", "click"])
    with TestClient(app) as client:
        def served(user: str) -> tuple[list, list]:
            items = client.post("/recommend", json={"user_id": user, "k": 5}).json()["items"]
            return [it["item_id"] for it in items], [it["score"] for it in items]

        before, scores = served("1")
        assert scores == [0.0, -1.0, -2.0, -3.0, -4.0]  # nothing published: the incoming order is kept
        target, others = before[-1], before[:-1]
        events = []
        for r in range(8):  # the user clicks only the item that was shown last
            events += [{"event_id": f"i{r}-{i}", "user_id": "1", "item_id": str(i), "type": "impression"}
                       for i in (target, *others)]
            events.append({"event_id": f"c{r}", "user_id": "1", "item_id": str(target), "type": "click"})
        client.post("/events", json={"events": events}, headers={"X-API-Key": API_KEY}).raise_for_status()
        stream = SqliteStream(tmp_path / "events.sqlite")
        trainer = OnlineTrainer(stream, model_dir / "online", TrainerConfig(**CONFIG))
        trainer.run(until_idle=True)
        version = trainer.publish()
        stream.close()
        reader = client.app.state.online
        reader.refresh()
        assert reader.current.version == version
        after, scores = served("1")
        assert after[0] == target and after != before
        # the served scores are the trained FM's logits for this user and these items
        keys = trainer.model.keys({"user": ["1"] * 5, "item": [str(i) for i in after]})
        np.testing.assert_allclose(scores, logit(trainer.model.predict(keys)), rtol=1e-5)
        np.testing.assert_allclose(scores, logit(reader.current.predict(keys)), rtol=1e-6)


def test_stage_scores_are_the_served_logits_and_stacking_adds_the_previous_score(tmp_path):
    events = []
    for r in range(30):
        events += [LoggedEvent(f"i{r}{i}", str(r % 3), str(i), "impression", 1e9 + r) for i in range(6)]
        events.append(LoggedEvent(f"c{r}", str(r % 3), str(r % 6), "click", 1e9 + r + 0.5))
    trainer = OnlineTrainer(ListStream(events), tmp_path, TrainerConfig(**CONFIG))
    trainer.step()
    trainer.publish()
    reader = OnlineModelReader(tmp_path / "sync")
    reader.refresh()
    vocab = Vocab([5, 4, 3, 2, 1, 0])  # pipeline index -> raw id, not the identity
    items = np.array([0, 2, 5])
    expected = logit(trainer.model.predict(trainer.model.keys({"user": ["2"] * 3, "item": ["5", "3", "0"]})))
    plain = OnlineScorer()
    plain.attach(reader, vocab)
    np.testing.assert_allclose(plain.score("2", items), expected, rtol=1e-6)
    stacked = OnlineScorer(previous_weight=0.5, base_feature="previous_score")
    stacked.attach(reader, vocab)
    np.testing.assert_allclose(stacked.score(2, items, np.array([1.0, np.nan, -1.0])),
                               expected + [0.5, 0.0, -0.5], rtol=1e-6)
    # an anonymous request reads the default user row: every item keeps its own weights only
    anon = plain.score(None, items)
    assert np.all(np.isfinite(anon)) and not np.allclose(anon, expected)
    stacked.attach(None, vocab)  # nothing served: a stacked stage passes the previous score on
    np.testing.assert_array_equal(stacked.score(2, items, np.array([1.0, 0.0, -1.0])), [1.0, 0.0, -1.0])


def test_a_request_is_scored_by_one_whole_version_while_the_reader_swaps(tmp_path):
    events = [LoggedEvent(f"i{k}", str(k % 40), str(k % 23), "impression", 1e9 + k) for k in range(3000)]
    events += [LoggedEvent(f"c{k}", str(k % 40), str(k % 23), "click", 1e9 + k + 0.5) for k in range(0, 3000, 4)]
    events.sort(key=lambda e: e.timestamp)
    trainer = OnlineTrainer(ListStream(events), tmp_path, TrainerConfig(**{**CONFIG, "read_limit": 100,
                                                                          "idle_close": False}))
    reader = OnlineModelReader(tmp_path / "sync")
    scorer = OnlineScorer()
    scorer.attach(reader, Vocab(list(range(23))))
    items = np.arange(23)
    probe = trainer.model.keys({"user": ["7"] * 23, "item": [str(i) for i in items]})
    expected, seen, done = {}, [], threading.Event()

    def score_forever() -> None:
        while not done.is_set():
            if reader.current is not None:
                seen.append(scorer.score("7", items))

    thread = threading.Thread(target=score_forever)
    thread.start()
    try:
        while trainer.step():
            version = trainer.publish()
            expected[version] = logit(trainer.model.predict(probe))
            reader.refresh()
            seen.append(scorer.score("7", items))  # at least one score per version
    finally:
        done.set()
        thread.join()
    assert len(expected) > 20
    versions = list(expected.values())
    for got in seen:  # each is exactly one version's scores, never a mix of two
        assert any(np.allclose(got, want, rtol=1e-6, atol=0) for want in versions)
    distinct = {np.round(v, 6).tobytes() for v in versions}
    assert len(distinct) == len(versions)  # consecutive versions differ, so a mix would show


def test_bad_fields_name_the_stage_and_attach_reaches_only_online_stages(tmp_path):
    with pytest.raises(ConfigError, match="online-fm.*fields"):
        Pipeline({**SPEC, "stages": [{"name": "o", "kind": "online-fm", "budget": 5,
                                       "params": {"fields": ["user", "genre"]}}]}).fit(block_interactions(), progress=False)
    pipe = Pipeline.load(train_tiny(tmp_path / "v1", spec=SPEC))
    reader = OnlineModelReader(tmp_path / "sync")
    assert attach_online(pipe, reader) is pipe and pipe.stages_[0].impl.online.reader is reader
