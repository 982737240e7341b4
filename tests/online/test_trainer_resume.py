"""The trainer's columnar read/join step: a snapshot taken mid-stream resumes to an uninterrupted run's state."""

import numpy as np
import pytest

from shortlist.online.training import ListStream, OnlineTrainer, TrainerConfig
from tests.online.test_online_trainer import CONFIG, expected_ledger, make_events


def trained_state(trainer: OnlineTrainer) -> dict[str, np.ndarray]:
    table = trainer.model.table
    arrays, meta = trainer.joiner.state()
    return {"dense": trainer.model.dense, **{n: getattr(table, n) for n in ("weights", "accum", "row_keys", "in_use")},
            **{f"joiner.{k}": v for k, v in arrays.items()}, "joiner.meta": np.array(repr(meta))}


@pytest.mark.parametrize("steps_before", [1, 7, 30])
def test_a_snapshot_mid_stream_resumes_to_the_uninterrupted_run(tmp_path, steps_before):
    events = make_events(4000, seed=5)
    # no closing by the wall clock: the last windows close at one event time, the same in both runs
    config = TrainerConfig(**{**CONFIG, "snapshot_every_s": 1e9, "read_limit": 137, "idle_close": False})
    whole = OnlineTrainer(ListStream(events), tmp_path / "whole", config)
    whole.run(until_idle=True)
    whole.train(whole.joiner.advance(1e12))
    assert whole.ledger == expected_ledger(events)  # every example the per-event rules emit, each once

    first = OnlineTrainer(ListStream(events), tmp_path / "cut", config)
    for _ in range(steps_before):
        first.step()
    first.snapshot()
    resumed = OnlineTrainer(ListStream(events), tmp_path / "cut", config)
    assert resumed.offset == first.offset == 137 * steps_before and resumed.ledger == first.ledger
    resumed.run(until_idle=True)
    resumed.train(resumed.joiner.advance(1e12))
    assert resumed.ledger == whole.ledger and resumed.offset == whole.offset
    want = trained_state(whole)
    for name, got in trained_state(resumed).items():
        np.testing.assert_array_equal(got, want[name], err_msg=name)
