"""Build a new model version from the event log plus the training data stored with the served version.

The served pipeline folder keeps its training data under ``data/``; logged interactions are
appended to it (new users join the user vocabulary; events on items the catalogue does not
know are skipped, since an item needs its features to be served), the pipeline is fitted
again and saved to a new folder, which the server then swaps to (``POST /admin/reload``).
The folder is one tree of the persistence writer: the pipeline's parts plus ``retrain.json``
(the :class:`RetrainReport`), every file checksummed, the whole written in one atomic swap.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.core.persistence import read_blob, write_part
from shortlist.data.dataset import Dataset
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, DataError
from shortlist.online.event_log import EventLog
from shortlist.online.updater import usable_ids

__all__ = ["REPORT_FILE", "RetrainReport", "merge_events", "read_retrain_report", "retrain_from_log"]

DEFAULT_SKIP = ("impression", "reward", "feedback")
#: the report's file in the new version folder, listed and checksummed in its ``pipeline.json``
REPORT_FILE = "retrain.json"


@dataclass
class RetrainReport:
    """What a retrain used and produced."""

    out: Path
    base_events: int
    log_events: int
    skipped_unknown_items: int
    skipped_types: int
    skipped_invalid: int
    new_users: int
    last_seq: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``retrain.json`` in the new version; ``seconds`` ends before the write)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def merge_events(base: Dataset, log: EventLog, *, skip_types: tuple[str, ...] = DEFAULT_SKIP,
                 after: int = 0) -> tuple[Dataset, dict[str, int]]:
    """``base`` with the logged interactions appended (values: event value, else the base data's max)."""
    it = base.interactions
    default_value = float(it.value.max()) if it.n_events else 1.0
    users, items, values, times, types = [], [], [], [], []
    stats = {"log_events": 0, "skipped_unknown_items": 0, "skipped_types": 0, "skipped_invalid": 0,
             "last_seq": after}
    for ev in log.iter_all(after):
        stats["last_seq"] = ev.seq
        if ev.type in skip_types or ev.item_id is None:
            stats["skipped_types"] += 1
            continue
        if not usable_ids(it.items, [ev.item_id]) or ev.item_id not in it.items:
            stats["skipped_unknown_items"] += 1
            continue
        if not usable_ids(it.users, [ev.user_id]) or (ev.value is not None and ev.value < 0):
            stats["skipped_invalid"] += 1  # e.g. "abc" for integer user ids, or a negative weight
            continue
        users.append(ev.user_id)
        items.append(ev.item_id)
        values.append(default_value if ev.value is None else float(ev.value))
        times.append(int(ev.timestamp))
        types.append(ev.type)
    stats["log_events"] = len(users)
    n_before = it.n_users
    if not users:
        stats["new_users"] = 0
        return base, stats
    if base.user_features is not None:
        known = it.users.contains(np.asarray(users))
        if not known.all():
            raise DataError(f"{int((~known).sum())} logged events come from users without a row in the user "
                            "features; add them to the features before retraining")
    user_vocab = it.users.extend(np.asarray(users))
    u_idx = user_vocab.index(np.asarray(users), what="user")
    i_idx = it.items.index(np.asarray(items), what="item")
    stamp = None
    if it.timestamp is not None:
        stamp = np.concatenate([it.timestamp, np.asarray(times, np.int64)])
    etype, names = None, it.event_types
    if it.event_type is not None:
        names = tuple(it.event_types) + tuple(sorted(set(types) - set(it.event_types)))
        code = {n: c for c, n in enumerate(names)}
        etype = np.concatenate([it.event_type, np.asarray([code[t] for t in types], np.int16)])
    merged = Interactions(user_vocab, it.items, np.concatenate([it.user_index, u_idx]),
                          np.concatenate([it.item_index, i_idx]),
                          np.concatenate([it.value, np.asarray(values, np.float32)]), stamp, etype, names,
                          it.weighting)
    stats["new_users"] = len(user_vocab) - n_before
    data = Dataset(base.name, merged, base.user_features, base.item_features, None, dict(base.info))
    if base.social is not None:
        import scipy.sparse as sp

        n = len(user_vocab)
        s = sp.csr_matrix(base.social)
        data.social = sp.csr_matrix((s.data, s.indices, np.concatenate([s.indptr, np.full(n - s.shape[0],
                                     s.indptr[-1])])), shape=(n, n))
    return data, stats


def retrain_from_log(events: str | Path, model_dir: str | Path, out: str | Path, *,
                     config: str | Path | None = None, skip_types: tuple[str, ...] = DEFAULT_SKIP,
                     progress: bool | None = None) -> RetrainReport:
    """Fit the pipeline (``config``, default: the spec of ``model_dir``) on base data + logged events."""
    from shortlist.pipeline import Pipeline
    from shortlist.pipeline.persistence import PIPELINE_FILE
    from shortlist.pipeline.spec import parse_spec

    t0 = time.perf_counter()
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "data").is_dir():
        raise ConfigError(f"--model-dir {model_dir} has no data/ folder; give a folder written by `shortlist train`")
    if not Path(events).exists():
        raise ConfigError(f"--events {events} does not exist; give the server's event log (events.sqlite)")
    if out.resolve() == model_dir.resolve():
        raise ConfigError("--out must differ from --model-dir: the served version must stay intact until the swap")
    if out.exists():
        raise ConfigError(f"--out {out} already exists; choose a new folder per version")
    if config is not None:
        pipeline = Pipeline.from_toml(config)
    else:
        meta = json.loads((model_dir / "pipeline.json").read_text())
        pipeline = Pipeline(parse_spec(meta["spec"], origin=f"in {model_dir / 'pipeline.json'}"))
    base = Dataset.load(model_dir / "data")
    with EventLog(events) as log:
        data, stats = merge_events(base, log, skip_types=skip_types)
    pipeline.fit(data, progress=progress)
    report = RetrainReport(out, base.interactions.n_events, stats["log_events"], stats["skipped_unknown_items"],
                           stats["skipped_types"], stats["skipped_invalid"], stats["new_users"], stats["last_seq"],
                           time.perf_counter() - t0)
    # the report is one more checksummed file of the version, written in the same atomic swap:
    # a watcher never sees a half-written version, and a damaged report fails to load like any file
    version = pipeline.to_part()
    version.blobs[REPORT_FILE] = json.dumps(report.to_dict(), indent=2)
    write_part(out, version, manifest=PIPELINE_FILE)
    return report


def read_retrain_report(folder: str | Path) -> dict[str, Any]:
    """The ``retrain.json`` of a version written by :func:`retrain_from_log`, checked against its checksum."""
    from shortlist.pipeline.persistence import PIPELINE_FILE

    return json.loads(read_blob(folder, REPORT_FILE, manifest=PIPELINE_FILE))
