"""The config-less path a new user takes: ``train`` / ``evaluate`` on their own table."""

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from tests.conftest import block_interactions


def run_cli(*args, cwd=None, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "shortlist", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory):
    """A plain user,item,rating table with 30 repeated rows (a user rating an item twice)."""
    data = block_interactions(n_users=120, n_items=80, density=0.3, seed=4)
    rng = np.random.default_rng(0)
    users, items = data.user_index.astype(np.int64), data.item_index.astype(np.int64)
    rep = rng.choice(users.size, 30, replace=False)
    frame = pl.DataFrame({"user": np.concatenate([users, users[rep]]) + 1000,
                          "item": np.concatenate([items, items[rep]]) + 5000,
                          "rating": rng.integers(1, 6, users.size + 30)})
    path = tmp_path_factory.mktemp("csv") / "plain.csv"
    frame.write_csv(path)
    return path


def test_evaluate_without_config_runs_the_tuned_default_pipeline(ratings_csv):
    code, out, err = run_cli("evaluate", "--data", str(ratings_csv), "--columns", "user=user,item=item,rating=rating",
                             "--protocol", "random-holdout:0.25", "--seed", "42", "--k", "10", "--json",
                             "--budget", "4")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["model"] == "pipeline:default"
    assert 0 < result["ndcg@10"] <= 1
    assert result["tuning"]["budget_seconds"] == 4.0 and result["tuning"]["best_single"]["model"]
    assert "Traceback" not in err
    # one line per repeated-row note and per omission, on stderr
    assert "30 repeated user-item ratings (2.1 %): kept the latest rating of each pair" in err
    for line in ("source 'trending' left out: no timestamps in the data (add a time column)",
                 "source 'content' left out: no item feature table in the data",
                 "source 'friends' left out: no social graph in the data"):
        assert err.count(line) == 1
    assert "peak memory" in err and result["peak_memory_mb"] > 0


def test_train_without_config_saves_the_tuned_pipeline_and_its_report(ratings_csv, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run_cli("train", "--data", str(ratings_csv), "--columns", "user=user,item=item,rating=rating",
                             "--out", str(out_dir), "--budget", "4")
    assert code == 0, err
    assert "trained pipeline 'default'" in out and "tuning report" in out
    report = json.loads((out_dir / "tuning" / "report.json").read_text())
    # no time column: the time lift is left out, the other models are all tuned
    assert {m["name"] for m in report["models"]} == {"pop", "itemknn", "ease", "als", "gf", "sess", "warp"}
    meta = json.loads((out_dir / "pipeline.json").read_text())
    assert meta["spec"]["tuning"]["budget"] == 0 and meta["tuning"]["chosen"]["models"]
    assert [o["name"] for o in meta["omitted"]] == ["timelift", "trending", "content", "friends",
                                                   "blend.model_timelift"]
    code, out, err = run_cli("recommend", "--model-dir", str(out_dir), "--user", "1003", "--k", "5", "--explain")
    assert code == 0, err
    assert "source 'friends' left out: no social graph in the data" in out


def test_budget_zero_fits_without_tuning(ratings_csv, tmp_path):
    code, out, err = run_cli("train", "--data", str(ratings_csv), "--columns", "user=user,item=item,rating=rating",
                             "--out", str(tmp_path / "r"), "--budget", "0")
    assert code == 0, err
    assert "tuning report" not in out and not (tmp_path / "r" / "tuning" / "report.json").exists()


def test_a_sequence_file_loads_directly(tmp_path):
    rng = np.random.default_rng(1)
    lines = []
    for u in range(60):
        group = (u % 2) * 20
        seq = rng.integers(group, group + 20, rng.integers(4, 12))
        lines.append(" ".join(str(x) for x in [u, *seq]))
    path = tmp_path / "seqs.txt"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli("evaluate", "--data", str(path), "--json", "--budget", "3")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["model"] == "pipeline:default"
    assert "counted as repeated interactions" in err


def test_a_required_component_the_data_lacks_is_one_line_with_the_fix(ratings_csv, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "r"\n[models.pop]\nkind = "popularity"\n'
                    '[[sources]]\nname = "pop"\nkind = "model"\nmodel = "pop"\nquota = 20\n'
                    '[[sources]]\nname = "friends"\nkind = "social"\nquota = 20\nrequired = true\n')
    code, _out, err = run_cli("train", "--config", str(spec), "--data", str(ratings_csv),
                             "--columns", "user=user,item=item,rating=rating", "--out", str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().endswith("source 'friends' is marked required = true but cannot run: no social graph in "
                                "the data; add it to the data, or set required = false to let the pipeline leave "
                                "it out")


@pytest.mark.slow
def test_a_200k_item_catalog_trains_without_the_dense_models(tmp_path):
    rng = np.random.default_rng(0)
    n_users, per_user = 10_000, 30
    user = np.repeat(np.arange(n_users), per_user)
    # a popular head and a long tail over 200,000 items
    item = np.where(rng.random(user.size) < 0.5, rng.integers(0, 2_000, user.size),
                    rng.integers(0, 200_000, user.size))
    item[:200_000] = np.arange(200_000)  # every item appears
    path = tmp_path / "big.csv"
    pl.DataFrame({"user": user, "item": item}).write_csv(path)
    code, out, err = run_cli("train", "--data", str(path), "--columns", "user=user,item=item",
                             "--out", str(tmp_path / "big"), "--budget", "20", timeout=900)
    assert code == 0, err
    for name in ("ease", "gf", "sess"):
        assert f"model '{name}' left out: needs about" in err
    assert "a dense 200,000² inverse" in err
    assert "peak memory" in out
    peak_gib = float(out.split("peak memory ")[1].split(" GiB")[0])
    assert peak_gib < 4.0  # sparse models only: no n² matrix was ever allocated
