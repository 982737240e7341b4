"""Label joiner: windows, early positives, negatives at window end, late corrections, bounded state.

The columnar joiner is checked against the per-event reference (``joiner_reference``) example by
example, in order, and against a brute-force join of each impression's final label.
"""

import numpy as np
import pytest

from shortlist.online.event_log import LoggedEvent
from shortlist.online.training import EventBatch, LabelJoiner
from tests.online.joiner_reference import ReferenceJoiner

_n = iter(range(10**9))


def ev(kind: str, user: str, item: str | None, t: float) -> LoggedEvent:
    n = next(_n)
    return LoggedEvent(f"e{n}", user, item, kind, t, seq=n + 1, position=n % 7 if n % 3 else None)


def feed(j: LabelJoiner, events, chunk: int = 10**9):
    out = []
    for lo in range(0, len(events), chunk):
        out += j.join(EventBatch.from_events(events[lo:lo + chunk])).rows()
    return out


def test_no_action_by_the_window_end_is_a_negative():
    j = LabelJoiner(window_s=10)
    imp = ev("impression", "u", "a", 0)
    assert feed(j, [imp, ev("impression", "v", "b", 9.9)]) == []
    out = feed(j, [ev("impression", "v", "c", 10.0)])
    assert [(x.user_id, x.item_id, x.label, x.weight, x.seq) for x in out] == [("u", "a", 0, 1.0, imp.seq)]


def test_a_click_is_a_positive_at_once_and_only_once():
    j = LabelJoiner(window_s=10)
    out = feed(j, [ev("impression", "u", "a", 0), ev("click", "u", "a", 2), ev("like", "u", "a", 3)])
    assert [(x.label, x.actions, x.weight) for x in out] == [(1, 1, 1.0)]
    assert feed(j, [ev("impression", "z", "z", 50)]) == []  # the window closes without a second example


def test_hide_after_click_and_a_late_click_correct_the_label():
    j = LabelJoiner(window_s=10, correction_s=100)
    out = feed(j, [ev("impression", "u", "a", 0), ev("click", "u", "a", 1), ev("hide", "u", "a", 2)])
    assert [(x.label, x.weight) for x in out] == [(1, 1.0), (1, -1.0), (0, 1.0)]
    out = feed(j, [ev("impression", "u", "b", 3), ev("impression", "x", "y", 20)])
    assert [(x.item_id, x.label) for x in out] == [("b", 0)]
    out = feed(j, [ev("long_view", "u", "b", 30)])  # after the window, within correction_s
    assert [(x.item_id, x.label, x.weight) for x in out] == [("b", 0, -1.0), ("b", 1, 1.0), ("y", 0, 1.0)]
    assert j.counts["corrections"] == 2


def test_with_update_actions_every_new_action_bit_re_emits_the_example():
    c, lv, lk, h = 1, 2, 4, 8  # click, long_view, like, hide (the default bits)
    stream = [("impression", 0), ("click", 1), ("like", 2), ("click", 3), ("hide", 4), ("long_view", 15),
              ("impression", 30)]  # the long view: after the 10 s window, within correction_s
    got = {}
    for flag in (False, True):
        events = [ev(kind, "u", "a", t) for kind, t in stream]
        j = LabelJoiner(window_s=10, correction_s=100, update_actions=flag)
        got[flag] = [(x.label, x.actions, x.weight) for x in feed(j, events, chunk=1)]
        assert (j.counts["corrections"], j.counts["updates"]) == (1, 2 * flag)
    # without the flag only the hide re-emits; its take-back carries the bits before the hide
    assert got[False] == [(1, c, 1.0), (1, c | lk, -1.0), (0, c | lk | h, 1.0)]
    # with it, the like and the late long view re-emit too; each take-back is the example emitted last
    assert got[True] == [(1, c, 1.0), (1, c, -1.0), (1, c | lk, 1.0), (1, c | lk, -1.0), (0, c | lk | h, 1.0),
                         (0, c | lk | h, -1.0), (0, c | lk | h | lv, 1.0)]


def test_an_action_too_late_to_correct_is_an_orphan():
    j = LabelJoiner(window_s=10, correction_s=5)
    feed(j, [ev("impression", "u", "a", 0), ev("impression", "x", "y", 100)])
    assert feed(j, [ev("click", "u", "a", 101)]) == [] and j.counts["orphans"] == 1


def test_state_is_bounded():
    j = LabelJoiner(window_s=1e9, max_pending=50, max_closed=20)
    out = feed(j, [ev("impression", str(n), "a", n) for n in range(500)], chunk=37)
    assert j.n_pending == 50 and j.n_closed == 20 and len(out) == 450 and j.counts["forced"] == 450
    assert len(j._pairs) <= 2 * 70 + j.gc_slack  # pairs that left both queues do not pile up


def random_stream(seed: int, n: int, users: int = 20, items: int = 15):
    """Impressions, clicks, long views, hides, likes, a type the joiner ignores and item-less events;
    event times jitter (out of order), and actions come within or after the window, or before any impression."""
    rng = np.random.default_rng(seed)
    events, t = [], 0.0
    for _ in range(n):
        t += rng.exponential(1.0)
        u, i = str(rng.integers(users)), str(rng.integers(items))
        kind = rng.choice(["impression", "impression", "click", "hide", "long_view", "like", "purchase", "search"])
        events.append(ev(kind, u, None if kind == "search" else i, t + rng.normal(0, 3)))
    return events


@pytest.mark.parametrize("update_actions", [False, True])
def test_labels_match_an_independent_join(update_actions):
    """Every impression's final label (after corrections) equals a brute-force join of its window; with
    ``update_actions`` its final example also carries every action of the window."""
    events = [e for e in random_stream(2, 4000) if e.type in ("impression", "click", "hide", "long_view", "like")]
    events.sort(key=lambda e: e.seq)
    j = LabelJoiner(window_s=20, correction_s=1e9, max_closed=10**6, update_actions=update_actions)
    out = feed(j, events, chunk=333) + j.advance(1e12).rows()
    live: dict[int, list] = {}  # seq -> the examples emitted and not taken back
    for x in out:
        if x.weight > 0:
            live.setdefault(x.seq, []).append(x)
        else:
            # a take-back is an example emitted before (without the flag, its bits may have grown since)
            same = [y for y in live[x.seq] if y.label == x.label and (y.actions == x.actions or not update_actions)]
            live[x.seq].remove(same[0])
    bit = j.config.actions
    for n, e in enumerate(events):
        if e.type != "impression":
            continue
        # the impression's actions: same (user, item), after it, before the pair's next impression
        later = [f for f in events[n + 1:] if (f.user_id, f.item_id) == (e.user_id, e.item_id)]
        stop = next((k for k, f in enumerate(later) if f.type == "impression"), len(later))
        kinds = {f.type for f in later[:stop]}
        want = int(bool(kinds & {"click", "long_view", "like"}) and "hide" not in kinds)
        (final,) = live[e.seq]
        assert final.label == want, (e, kinds)
        if update_actions:
            assert final.actions == sum(bit[k] for k in kinds), (e, kinds)


@pytest.mark.parametrize("update_actions", [False, True])
def test_a_take_back_carries_the_bits_before_its_action(update_actions):
    """With the flag, a take-back is the example emitted last for its impression; without it, its bits
    are the re-emitted bits less the action that flipped the label (what the heads recovered before)."""
    j = LabelJoiner(window_s=20, correction_s=30, update_actions=update_actions)
    out = feed(j, random_stream(5, 4000), chunk=97)
    pos, neg = 1 | 2 | 4, 8
    last: dict[int, object] = {}
    n_back = 0
    for k, x in enumerate(out):
        if x.weight > 0:
            last[x.seq] = x
            continue
        n_back += 1
        new = out[k + 1]  # the re-emitted example follows its take-back at once
        assert (new.seq, new.weight) == (x.seq, 1.0)
        if update_actions:
            assert x == last[x.seq]._replace(weight=-1.0)
        else:
            assert x.actions == new.actions & ~(neg if x.label else pos) and new.label != x.label
    assert n_back > 20


CONFIGS = [{"window_s": 20, "correction_s": 30},  # corrections, late and orphan actions
           {"window_s": 20, "correction_s": 30, "max_pending": 7, "max_closed": 11},  # forced closes, evictions
           {"window_s": 50, "correction_s": 0, "max_closed": 0},  # nothing kept after the window
           {"window_s": 5, "correction_s": 1e9, "max_pending": 1}]


@pytest.mark.parametrize("update_actions", [False, True])
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("chunk", [1, 97, 10**9])
def test_every_example_equals_the_reference_joiner_in_order(config, chunk, update_actions):
    events = random_stream(7, 3000)
    config = {**config, "update_actions": update_actions}
    ref = ReferenceJoiner(**config)
    want = [x for e in events for x in ref.push(e)] + ref.advance(events[-1].timestamp + 40)
    j = LabelJoiner(**config)
    got = feed(j, events, chunk) + j.advance(events[-1].timestamp + 40).rows()
    assert got == want and len(want) > 300
    assert j.counts == ref.counts and j.watermark == ref.watermark
    assert (j.n_pending, j.n_closed) == (len(ref.pending), len(ref.closed))
    assert (j.counts["updates"] > 0) == update_actions, j.counts  # every config re-emits some new bits


def test_renumbered_pair_slots_give_the_same_examples(monkeypatch):
    """With no slack, the slot dict is rebuilt at nearly every batch; nothing emitted changes."""
    events = random_stream(11, 4000, users=300, items=40)
    whole = feed(LabelJoiner(window_s=20, correction_s=30), events, chunk=50)
    monkeypatch.setattr(LabelJoiner, "gc_slack", 0)
    j = LabelJoiner(window_s=20, correction_s=30)
    assert feed(j, events, chunk=50) == whole
    assert len(j._pairs) <= 2 * (j.n_pending + j.n_closed) + 50


@pytest.mark.parametrize("update_actions", [False, True])
@pytest.mark.parametrize("cut", [1, 1234, 2999])
def test_a_restored_joiner_continues_exactly(cut, update_actions):
    config = {"window_s": 20, "correction_s": 30, "max_pending": 40, "max_closed": 60,
              "update_actions": update_actions}
    events = random_stream(1, 3000)
    uninterrupted = LabelJoiner(**config)
    whole = feed(uninterrupted, events, chunk=200)
    j = LabelJoiner(**config)
    first = feed(j, events[:cut], chunk=200)
    arrays, meta = j.state()
    k = LabelJoiner.from_state({name: a.copy() for name, a in arrays.items()}, meta)
    assert feed(k, events[cut:], chunk=200) == whole[len(first):] and first == whole[:len(first)]
    # the restored joiner's state is the uninterrupted one's, array for array
    got, want = k.state(), uninterrupted.state()
    assert got[1] == want[1] and got[0].keys() == want[0].keys()
    for name in want[0]:
        np.testing.assert_array_equal(got[0][name], want[0][name])


def test_a_state_saved_before_update_actions_loads_with_the_flag_off():
    config = {"window_s": 20, "correction_s": 30}
    events = random_stream(3, 2000)
    whole = feed(LabelJoiner(**config), events, chunk=200)
    j = LabelJoiner(**config)
    first = feed(j, events[:900], chunk=200)
    arrays, meta = j.state()
    del meta["config"]["update_actions"], meta["counts"]["updates"]  # the keys an older state lacks
    k = LabelJoiner.from_state(arrays, meta)
    assert not k.config.update_actions and k.counts["updates"] == 0
    assert first + feed(k, events[900:], chunk=200) == whole
