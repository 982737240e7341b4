"""ALS on a 3-node Ray cluster from partitioned Parquet: each block reads its own events, the driver none."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from shortlist.data.big_world import read_events, write_big_world
from shortlist.distributed.als import fit_als
from shortlist.distributed.cluster import KillOnce
from shortlist.distributed.partitions import write_partitioned
from shortlist.errors import ConfigError
from shortlist.models.als import ALS

PARAMS = {"factors": 8, "iterations": 4, "regularization": 0.5, "alpha": 2.0, "w0": 0.3, "progress": False}
#: the objective's count-dependent pieces too: item discount (global item counts) and row-scaled penalty
COUNTED = {**PARAMS, "frequency_weighting": 0.5, "nu": 1.0, "reg_counts": "observed"}


def _close(got: ALS, want: ALS) -> None:
    np.testing.assert_allclose(got.user_factors_, want.user_factors_, rtol=0, atol=2e-5)
    np.testing.assert_allclose(got.item_factors_, want.item_factors_, rtol=0, atol=2e-5)


@pytest.fixture(scope="module")
def parts(skewed, tmp_path_factory):
    return write_partitioned(skewed, tmp_path_factory.mktemp("parts") / "skewed", 3)


@pytest.mark.slow
@pytest.mark.parametrize("params", [PARAMS, COUNTED], ids=["plain", "counted"])
def test_factors_equal_driver_loaded_and_single_node_als(ray_cluster, skewed, parts, params):
    single = ALS(**params).fit(skewed)
    loaded = fit_als(ALS(**params), skewed, blocks=3)
    fit = fit_als(ALS(**params), source=parts)
    _close(fit.model, single)
    # the same blocks, the same sums: bit for bit what the driver-loaded fit gives
    np.testing.assert_array_equal(fit.model.user_factors_, loaded.model.user_factors_)
    np.testing.assert_array_equal(fit.model.item_factors_, loaded.model.item_factors_)
    assert fit.traffic.exchange == loaded.traffic.exchange == loaded.traffic.minimum
    assert fit.model.users_ == skewed.users and fit.model.items_ == skewed.items
    np.testing.assert_array_equal(fit.model.item_counts_, single.item_counts_)
    assert fit.model.train_.shape == single.train_.shape and fit.model.train_.nnz == 0  # no events on the driver


@pytest.mark.slow
def test_a_worker_killed_mid_fit_reads_its_partition_again(ray_cluster, skewed, parts, tmp_path):
    chaos = KillOnce(str(tmp_path / "killed"), step=3, block=2)
    fit = fit_als(ALS(**PARAMS), source=parts, chaos=chaos)
    assert (tmp_path / "killed").exists()
    _close(fit.model, ALS(**PARAMS).fit(skewed))


def _nbytes(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


@pytest.fixture()
def driver_bytes(ray_cluster, monkeypatch):
    """Bytes of arrays the driver puts into or gets from the object store, counted as the fit runs."""
    seen = {"put": 0, "get": 0}
    put, get = ray_cluster.put, ray_cluster.get

    def counted_put(value, *a, **k):
        seen["put"] += _nbytes(value)
        return put(value, *a, **k)

    def counted_get(refs, *a, **k):
        out = get(refs, *a, **k)
        seen["get"] += _nbytes(out)
        return out

    monkeypatch.setattr(ray_cluster, "put", counted_put)
    monkeypatch.setattr(ray_cluster, "get", counted_get)
    return seen


@pytest.mark.slow
def test_the_driver_never_reads_or_ships_the_events(ray_cluster, tmp_path, driver_bytes, monkeypatch):
    path = tmp_path / "world.parquet"
    write_big_world(path, n_users=900, n_items=400, n_events=36_000, chunk_users=250)
    data = read_events(path)
    events_bytes = data.user_index.nbytes + data.item_index.nbytes + data.value.nbytes
    source = write_partitioned(path, tmp_path / "parts", 3)
    want = ALS(**PARAMS).fit(data)
    # the control: a driver-loaded fit ships at least the events (its blocks' cells)
    fit_als(ALS(**PARAMS), data, blocks=3)
    assert driver_bytes["put"] > events_bytes
    driver_bytes.update(put=0, get=0)

    def refuse(*a, **k):
        raise AssertionError("the driver read a Parquet file")

    for name in ("read_table", "ParquetFile", "ParquetDataset"):  # the actors' processes are not patched
        monkeypatch.setattr(pq, name, refuse)
    fit = fit_als(ALS(**PARAMS), source=source)
    _close(fit.model, want)
    # what crossed the driver: initial and final factors, Gramians, link counts - a fraction of the events
    factors = 4 * PARAMS["factors"] * (900 + 400)
    assert driver_bytes["put"] + driver_bytes["get"] < 3 * factors < events_bytes / 2


def test_blocks_must_match_the_folder_and_the_events_come_once(ray_cluster, skewed, parts):
    with pytest.raises(ConfigError, match="partitioned into 3 blocks"):
        fit_als(ALS(**PARAMS), source=parts, blocks=2)
    with pytest.raises(ConfigError, match="events once"):
        fit_als(ALS(**PARAMS), skewed, source=parts)
