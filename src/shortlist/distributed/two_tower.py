"""Two-tower training on Ray Train: DistributedDataParallel over gloo, one CPU worker per shard.

The driver does what a single-process fit does before its first batch (parameter checks,
the validation carve, the feature encoders and the module's config), cuts the training
users into ``workers`` shards of nearly equal cell counts and puts each shard in the
object store. Every worker rebuilds the same :class:`~shortlist.neural.two_tower.TwoTower`
from the shared part and its shard, wraps the towers in ``DistributedDataParallel``
(``ray.train.torch.prepare_model``) and runs the single-process :class:`Trainer` with the
model's own batches and loss (in-batch negatives, logQ correction): DDP averages the
gradients of the workers' batches at every step. All workers take the same number of steps
per epoch (the smallest shard's), so no all-reduce waits on a worker that has run out.

A shard holds whole users: a user's history, which the user tower reads, is all local.
Rank 0 also holds the validation users and their held-out cells; it scores them after each
epoch and broadcasts the score, so every worker's early stopping takes the same decision.
It sends the epoch losses (averaged over all workers) and, at the end, the weights to the
driver through a Ray queue; the driver loads them into its model, which then embeds users
and items like a single-process fit.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.distributed.cluster import import_ray
from shortlist.errors import ConfigError, DataError
from shortlist.neural.trainer import Trainer, TrainHistory, seeded, torch_threads
from shortlist.neural.two_tower import FrequencyEstimator, TwoTower

__all__ = ["TwoTowerFit", "fit_two_tower", "shard_users"]

_POLL_SECONDS = 0.5  # how often the driver looks at the progress queue while training runs


@dataclass
class TwoTowerFit:
    """A fit on Ray Train: the fitted model, the workers, and the driver's view of the run."""

    model: TwoTower
    workers: int
    steps_per_epoch: int
    setup_seconds: float
    #: wall seconds per epoch on rank 0 (validation excluded) and the loss averaged over workers
    epoch_seconds: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def shard_users(m: sp.csr_matrix, workers: int, seed: int) -> list[np.ndarray]:
    """Users cut into ``workers`` shards of whole users with nearly equal cell counts.

    Users are shuffled first (a seeded permutation), so every shard draws from the whole
    population; the cuts fall where the running cell count crosses each equal share.
    """
    counts = np.diff(m.indptr)
    order = np.random.default_rng([seed, workers]).permutation(np.flatnonzero(counts > 0))
    cum = np.cumsum(counts[order])
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, workers) / workers, side="right")
    return [np.sort(s) for s in np.split(order, cuts)]


def _rows(m: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """``m`` with only the rows of ``users`` kept (same shape: indices stay global)."""
    keep = np.zeros(m.shape[0], bool)
    keep[users] = True
    counts = np.diff(m.indptr)
    cells = np.repeat(keep, counts)  # each row's cells in their order: batches draw the same pairs
    return sp.csr_matrix((m.data[cells], m.indices[cells], np.r_[0, np.cumsum(counts * keep)]), shape=m.shape)


def _steps(shards: list[sp.csr_matrix], batch_size: int) -> int:
    """Steps per epoch every worker can take: the batches of the smallest shard (size >= 2)."""
    smallest = min(s.nnz for s in shards)
    if smallest < 2:
        raise ConfigError(f"a shard holds {smallest} training cells, too few for one batch; use fewer workers")
    full, rest = divmod(smallest, batch_size)
    return full + (rest >= 2)


def _check_workers(ray: Any, workers: int | None, cpus_per_worker: int) -> int:
    """Workers requested (default: the cluster's CPUs), refused with a named error if they cannot start."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is None:
        workers = max(1, cpus // cpus_per_worker)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}; e.g. workers=2")
    if workers * cpus_per_worker > cpus:
        raise ConfigError(f"workers={workers} x cpus_per_worker={cpus_per_worker} needs {workers * cpus_per_worker} "
                          f"CPUs, the Ray cluster has {cpus}; use workers <= {max(1, cpus // cpus_per_worker)}")
    return int(workers)


def _prepare(model: TwoTower, data: Interactions, tables: tuple) -> tuple[sp.csr_matrix, Any, np.random.Generator]:
    """What ``NeuralMixin._fit`` does before training, on the driver: the same carve, encoders and config."""
    model._validate_params()
    if not isinstance(data, Interactions):
        raise DataError(f"fit expects shortlist.data.Interactions, got {type(data).__name__}")
    if data.nnz == 0:
        raise DataError("cannot fit on empty interactions (0 non-zero cells)")
    for name, t in zip(("user_features", "item_features"), tables, strict=True):
        if t is not None and not isinstance(t, FeatureTable):
            raise DataError(f"{name} must be a shortlist.data.FeatureTable, got {type(t).__name__}")
    model.users_, model.items_, model.train_ = data.users, data.items, data.matrix
    model.device_ = torch.device("cpu")
    rng = np.random.default_rng(model.seed)  # the single-process stream: same validation cells
    fit_m, valid_m = model._carve_validation(model.train_, rng)
    model.config_ = {}
    with seeded(int(model.seed)):
        model._build(data, *tables, fit_m)
    return fit_m, valid_m, rng


def _validation_part(fit_m: sp.csr_matrix, valid_m: sp.csr_matrix | None) -> dict[str, Any] | None:
    """Rank 0's extra part: the users validation scores, with their training and held-out cells."""
    if valid_m is None:
        return None
    from shortlist.neural.base import _VALID_USERS

    users = np.flatnonzero(np.diff(valid_m.indptr) > 0)[:_VALID_USERS]
    return {"fit": _rows(fit_m, users), "valid": _rows(valid_m, users)}


def _shared_part(model: TwoTower) -> dict[str, Any]:
    """What every worker needs besides its shard: parameters, config and the feature rows."""
    return {"params": model.get_params(), "config": model.config_, "n_items": len(model.items_),
            "user_rows": model.user_rows_, "item_rows": model.item_rows_}


def _worker_model(shared: dict[str, Any]) -> TwoTower:
    """The driver's model, rebuilt in a worker with the same seeded initial weights."""
    model = TwoTower(**shared["params"])
    model.config_ = shared["config"]
    model.user_rows_, model.item_rows_ = shared["user_rows"], shared["item_rows"]
    model.device_ = torch.device("cpu")
    model.module_ = model._make_module()
    model.freq_ = FrequencyEstimator(shared["n_items"], model.frequency_alpha)
    model._step = 0
    return model


class _EpochLog:
    """Per worker: the epoch's loss, averaged over all workers, reported by rank 0 to the driver."""

    def __init__(self, queue: Any, rank: int, size: int) -> None:
        self.queue, self.rank, self.size = queue, rank, size
        self.last = 0.0
        self.losses: list[float] = []

    def loss(self, loss_fn):
        def record(batch):
            out = loss_fn(batch)
            self.last = float(out.detach())
            return out
        return record

    def epoch(self, batches):
        """The epoch's batches; after the last step, the all-reduced loss goes to the driver."""
        total, seen = 0.0, 0
        for n, batch in batches:
            yield n, batch
            total, seen = total + self.last * n, seen + n  # the Trainer has stepped on this batch
        sums = torch.tensor([total, seen], dtype=torch.float64)
        if self.size > 1:
            torch.distributed.all_reduce(sums)
        self.losses.append(float(sums[0] / max(float(sums[1]), 1.0)))
        if self.rank == 0:
            self.queue.put(("epoch", len(self.losses), self.losses[-1]))


def _validator(model: TwoTower, towers: torch.nn.Module, net: torch.nn.Module, config: dict[str, Any], rank: int,
               size: int):
    """Rank 0 scores the validation users and broadcasts the score: one early-stopping decision.

    Every rank gets the callable (the others wait in the broadcast), else their Trainers
    would go on to the next epoch's all-reduces while rank 0 scores.
    """
    if config["validation"] is None:
        return None
    import ray

    part = ray.get(config["validation"]) if rank == 0 else None
    queue = config["queue"]

    def validate() -> float:
        score = torch.zeros(1, dtype=torch.float64)
        if rank == 0:
            model.module_ = towers  # export calls the towers one by one, not the DDP wrapper
            try:
                score[0] = model._validation_ndcg(part["fit"], part["valid"])
            finally:
                model.module_ = net
            queue.put(("valid", 0, float(score[0])))
        if size > 1:
            torch.distributed.broadcast(score, 0)
        return float(score[0])

    return validate


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard, the model's batches and loss, gradients all-reduced by DDP."""
    import ray
    import ray.train
    from ray.train.torch import prepare_model

    ctx = ray.train.get_context()
    rank, size = ctx.get_world_rank(), ctx.get_world_size()
    queue = config["queue"]
    shared, shard = ray.get(config["shared"]), ray.get(config["shards"][rank])
    # the driver's torch seed before the build: every worker starts from the driver's weights
    with seeded(int(shared["params"]["seed"])), torch_threads(config["threads"]):
        model = _worker_model(shared)
        towers = model.module_
        net = prepare_model(towers, move_to_device=False, parallel_strategy="ddp" if size > 1 else None)
        model.module_ = net  # the loss calls module_(...): DDP's forward, then its all-reduce on backward
        rng = config["rng"] if rank == 0 else np.random.default_rng([model.seed, rank])
        log = _EpochLog(queue, rank, size)
        trainer = Trainer(epochs=model.epochs, learning_rate=model.learning_rate, weight_decay=model.weight_decay,
                          patience=model.patience, device="cpu", progress=False)
        history = trainer.fit(net, lambda r: log.epoch(islice(model._batches(shard, r), config["steps"])),
                              log.loss(model._loss), rng=rng,
                              validate=_validator(model, towers, net, config, rank, size))
        history.loss = log.losses
    if rank == 0:
        state = {k: v.detach().cpu().numpy() for k, v in towers.state_dict().items()}
        queue.put(("weights", state, history.to_json()))
    ray.train.report({"epochs": len(log.losses), "loss": log.losses[-1] if log.losses else float("nan")})


def _result(run: Future) -> None:
    """The run's end; a worker's ConfigError or DataError (a diverging loss: "lower learning_rate") as itself."""
    try:
        run.result()
    except Exception as exc:
        for _, failure in sorted(getattr(exc, "worker_failures", {}).items()):
            failure = getattr(failure, "_base_exc", failure)  # Ray Train wraps it with its traceback
            if isinstance(failure, (ConfigError, DataError)):
                raise failure from exc
        raise


def _follow(queue: Any, run: Future, bar: tqdm) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Show rank 0's epochs on the driver until training ends; the final weights and history."""
    from ray.util.queue import Empty

    weights, shown = None, {}
    while True:
        try:
            msg = queue.get(timeout=_POLL_SECONDS)
        except Empty:
            if run.done():
                _result(run)
                if weights is None:
                    raise RuntimeError("Ray Train finished without sending the weights back") from None
                return weights
            continue
        if msg[0] == "epoch":
            bar.update(1)
            shown = {"epoch": msg[1], "loss": f"{msg[2]:.4f}"}
            bar.set_postfix(shown)
        elif msg[0] == "valid":
            bar.set_postfix({**shown, "ndcg@10": f"{msg[2]:.4f}"})
        else:
            weights = (msg[1], msg[2])


def fit_two_tower(model: TwoTower, data: Interactions, *, workers: int | None = None,
                  user_features: FeatureTable | None = None, item_features: FeatureTable | None = None,
                  cpus_per_worker: int = 1, progress: bool | None = None) -> TwoTowerFit:
    """Fit ``model`` with Ray Train's ``TorchTrainer`` on the connected cluster (CPU workers, gloo).

    ``workers`` defaults to the cluster's CPUs divided by ``cpus_per_worker``. The result's
    model is a plain fitted :class:`TwoTower` (saved, loaded and served like any other).
    """
    ray = import_ray()
    if not isinstance(model, TwoTower):
        raise ConfigError(f"Ray Train fits TwoTower models here, got {type(model).__name__}; fit it locally")
    if not ray.is_initialized():
        raise ConfigError("no Ray session: call ray.init(address) or use shortlist.distributed.connected()")
    if isinstance(cpus_per_worker, bool) or not isinstance(cpus_per_worker, int) or cpus_per_worker < 1:
        raise ConfigError(f"cpus_per_worker must be an integer >= 1, got {cpus_per_worker!r}; e.g. cpus_per_worker=1")
    t0 = time.perf_counter()
    workers = _check_workers(ray, workers, cpus_per_worker)
    fit_m, valid_m, rng = _prepare(model, data, (user_features, item_features))
    shards = [_rows(fit_m, users) for users in shard_users(fit_m, workers, int(model.seed))]
    steps = _steps(shards, int(model.batch_size))
    val = _validation_part(fit_m, valid_m)
    config = {"shared": ray.put(_shared_part(model)), "shards": [ray.put(s) for s in shards],
              "validation": None if val is None else ray.put(val), "steps": steps,
              "rng": rng, "threads": model.num_threads or cpus_per_worker}
    weights, history = _run(ray, config, workers, cpus_per_worker, model, progress)
    model.module_.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    model.module_.eval()
    model.history_ = TrainHistory.from_json(history)
    model._export(model.train_)
    fit = TwoTowerFit(model, workers, steps, 0.0, list(model.history_.seconds), list(model.history_.loss))
    fit.setup_seconds = time.perf_counter() - t0 - sum(fit.epoch_seconds)
    return fit


def _run(ray: Any, config: dict[str, Any], workers: int, cpus: int, model: TwoTower,
         progress: bool | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run the TorchTrainer, following its progress; the weights and history rank 0 sent back."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    queue = Queue(actor_options={"num_cpus": 0})
    bar = tqdm(total=int(model.epochs), desc=f"two-tower on ray train ({workers} workers)", unit="epoch",
               disable=None if progress is None else not progress)
    try:
        with tempfile.TemporaryDirectory(prefix="shortlist-train-") as storage, ThreadPoolExecutor(1) as pool:
            trainer = TorchTrainer(
                _train_worker, train_loop_config={**config, "queue": queue},
                torch_config=TorchConfig(backend="gloo"),
                scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": cpus}),
                run_config=RunConfig(name="two-tower", storage_path=storage))
            return _follow(queue, pool.submit(trainer.fit), bar)
    finally:
        bar.close()
        queue.shutdown()
