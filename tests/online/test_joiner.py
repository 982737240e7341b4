"""Label joiner: windows, early positives, negatives at window end, late corrections, bounded state."""

import numpy as np

from shortlist.online.event_log import LoggedEvent
from shortlist.online.training.joiner import LabelJoiner

_n = iter(range(10**9))


def ev(kind: str, user: str, item: str, t: float) -> LoggedEvent:
    n = next(_n)
    return LoggedEvent(f"e{n}", user, item, kind, t, seq=n + 1)


def feed(j: LabelJoiner, events):
    out = []
    for e in events:
        out += j.push(e)
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


def test_an_action_too_late_to_correct_is_an_orphan():
    j = LabelJoiner(window_s=10, correction_s=5)
    feed(j, [ev("impression", "u", "a", 0), ev("impression", "x", "y", 100)])
    assert feed(j, [ev("click", "u", "a", 101)]) == [] and j.counts["orphans"] == 1


def test_state_is_bounded():
    j = LabelJoiner(window_s=1e9, max_pending=50, max_closed=20)
    out = feed(j, [ev("impression", str(n), "a", n) for n in range(500)])
    assert len(j.pending) == 50 and len(j.closed) == 20 and len(out) == 450 and j.counts["forced"] == 450


def random_stream(seed: int, n: int):
    rng = np.random.default_rng(seed)
    events, t = [], 0.0
    for _ in range(n):
        t += rng.exponential(1.0)
        u, i = str(rng.integers(20)), str(rng.integers(15))
        kind = rng.choice(["impression", "impression", "click", "hide", "long_view"])
        events.append(ev(kind, u, i, t))
    return events


def test_a_restored_joiner_continues_exactly():
    events = random_stream(1, 3000)
    whole = feed(LabelJoiner(window_s=20, correction_s=30), events)
    j = LabelJoiner(window_s=20, correction_s=30)
    first = feed(j, events[:1234])
    arrays, meta = j.state()
    k = LabelJoiner.from_state(arrays, meta)
    assert feed(k, events[1234:]) == whole[len(first):] and first == whole[:len(first)]


def test_labels_match_an_independent_join():
    """Every impression's final label (after corrections) equals a brute-force join of its window."""
    events = random_stream(2, 4000)
    j = LabelJoiner(window_s=20, correction_s=1e9, max_closed=10**6)
    out = feed(j, events) + j.advance(1e12)
    final: dict[int, int] = {}
    for x in out:
        final[x.seq] = final.get(x.seq, 0) + (x.label if x.weight > 0 else -x.label)
    for n, e in enumerate(events):
        if e.type != "impression":
            continue
        # the impression's actions: same (user, item), after it, before the pair's next impression
        later = [f for f in events[n + 1:] if (f.user_id, f.item_id) == (e.user_id, e.item_id)]
        stop = next((k for k, f in enumerate(later) if f.type == "impression"), len(later))
        kinds = {f.type for f in later[:stop]}
        want = int(bool(kinds & {"click", "long_view"}) and "hide" not in kinds)
        assert final[e.seq] == want, (e, kinds)
