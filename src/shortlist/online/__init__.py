"""Online learning: durable event log, shared state, per-event updater and retraining from the log."""

from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.memory_state import MemoryState
from shortlist.online.state import OnlineState, RedisState, make_state
from shortlist.online.updater import ModelHolder, ModelVersion, Updater, model_version_id

__all__ = ["EventLog", "LoggedEvent", "MemoryState", "ModelHolder", "ModelVersion", "OnlineState", "RedisState",
           "Updater", "make_state", "model_version_id", "retrain_from_log"]


def __getattr__(name: str):  # retraining pulls in the whole pipeline: import it on first use
    if name == "retrain_from_log":
        from shortlist.online.retrain import retrain_from_log

        return retrain_from_log
    raise AttributeError(name)
