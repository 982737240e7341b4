"""Online training (Monolith-style): a label joiner over the event stream, an FM trained per mini-batch
on a collisionless embedding table, parameter sync to serving, and snapshots for exactly-once replay."""

from shortlist.online.training.batch import EventBatch, Example, ExampleBatch
from shortlist.online.training.fm import OnlineFM
from shortlist.online.training.joiner import JoinerConfig, LabelJoiner
from shortlist.online.training.stream import EventStream, ListStream, SqliteStream
from shortlist.online.training.sync import OnlineModelReader, Publisher, ServedFM
from shortlist.online.training.trainer import OnlineTrainer, TrainerConfig, auc

__all__ = ["EventBatch", "EventStream", "Example", "ExampleBatch", "JoinerConfig", "LabelJoiner", "ListStream",
           "OnlineFM", "OnlineModelReader", "OnlineTrainer", "Publisher", "ServedFM", "SqliteStream",
           "TrainerConfig", "auc"]
