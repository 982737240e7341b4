"""Checkpoint + replay: the restored memory state equals one that applied every logged event once."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from shortlist.online.checkpoint import load_checkpoint, save_checkpoint
from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.memory_state import MemoryState
from shortlist.online.recovery import Checkpointer, restore_state
from shortlist.online.updater import Updater

NOW = time.time()
HOLDER = SimpleNamespace(current=SimpleNamespace(version="v@0"))


def _updater(state):
    return Updater(state, HOLDER, fold_in=False)  # histories, trending, counters: no model needed


def _batch(b: int) -> list[LoggedEvent]:
    return [LoggedEvent(f"e{b}-{j}", f"u{(b + j) % 5}", f"i{(3 * b + j) % 11}", "impression" if j == 2 else "click",
                        NOW - 60 + b, value=None if j else 2.0) for j in range(3)]


def _state_view(s: MemoryState) -> tuple:
    return ({u: s.history(u) for u in (f"u{k}" for k in range(5))}, [i for i, _ in s.trending(11)],
            {i: s.bandit(i) for i in (f"i{k}" for k in range(11))})


def _same_trending(a: MemoryState, b: MemoryState) -> bool:
    """Decayed to the moment of reading: equal up to the time between the two reads."""
    return [v for _, v in a.trending(11)] == pytest.approx([v for _, v in b.trending(11)], rel=1e-4)


def test_checkpoint_then_replay_equals_applying_everything(tmp_path):
    with EventLog(tmp_path / "events.sqlite") as log:
        reference = MemoryState()
        live = MemoryState()
        ref_up, live_up = _updater(reference), _updater(live)
        ckpt = Checkpointer(live, log, live_up, tmp_path / "state.npz", every_events=0, every_s=0)
        stored = [log.append(_batch(b))[0] for b in range(12)]
        for batch in stored:
            ref_up.apply(batch)
        for b, batch in enumerate(stored[:8]):
            if b != 5:  # batch 5 is committed but still on its way to the state when the checkpoint is taken
                live_up.apply(batch)
        ckpt.checkpoint()
        _, meta = load_checkpoint(tmp_path / "state.npz")
        # every committed event is either in the snapshot or pending (batch 5, and 8-11 not applied yet)
        assert meta["seq"] == stored[-1][-1].seq
        assert meta["pending"] == [e.seq for b in (5, 8, 9, 10, 11) for e in stored[b]]
        for batch in [stored[5]] + stored[8:]:  # batch 5 arrives, then serving goes on
            live_up.apply(batch)
        restored = MemoryState()
        report = restore_state(restored, log, _updater(restored), checkpoint=tmp_path / "state.npz")
    assert report.source == "checkpoint" and report.replayed_events == 3 * (1 + 4)
    assert report.last_seq == stored[-1][-1].seq
    assert _state_view(restored) == _state_view(live)
    # the same counts as applying in log order (only the order of u1's history differs: batch 5 came late)
    assert _state_view(restored)[1:] == _state_view(reference)[1:]
    assert _same_trending(restored, reference)


def test_no_or_damaged_checkpoint_rebuilds_from_the_whole_log(tmp_path):
    with EventLog(tmp_path / "events.sqlite") as log:
        reference = MemoryState()
        up = _updater(reference)
        for b in range(6):
            up.apply(log.append(_batch(b))[0])
        (tmp_path / "state.npz").write_bytes(b"not a zip")
        for path in (tmp_path / "none.npz", tmp_path / "state.npz"):
            restored = MemoryState()
            report = restore_state(restored, log, _updater(restored), checkpoint=path)
            assert report.source == "log" and report.replayed_events == 18
            assert _state_view(restored) == _state_view(reference) and _same_trending(restored, reference)


def test_checkpoint_file_is_replaced_whole(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"x": __import__("numpy").arange(3)}, {"seq": 4})
    arrays, meta = load_checkpoint(path)
    assert arrays["x"].tolist() == [0, 1, 2] and meta["seq"] == 4 and meta["format"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary left behind
    save_checkpoint(path, {"x": __import__("numpy").arange(1)}, {"seq": 9, "format": 99})
    with pytest.raises(ValueError, match="format 99"):
        load_checkpoint(path)
