"""Every neural recommender: the Recommender contract, memorization, seeds, persistence, params."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shortlist.errors import ConfigError
from shortlist.models import Recommender, model_class
from shortlist.neural import FM, DeepFM, NeuMF, SoftmaxDNN, TwoTower
from tests.conftest import block_interactions
from tests.models.contract import RecommenderContract
from tests.neural import block_features, random_interactions, train_auc

torch.set_num_threads(1)  # tiny models: threads only add overhead on a shared machine

FAST = {"validation_fraction": 0.0, "device": "cpu", "batch_size": 64, "seed": 0}
MODELS = {
    "neumf": lambda **kw: NeuMF(**{**FAST, "epochs": 30, "learning_rate": 0.01, **kw}),
    "fm": lambda **kw: FM(**{**FAST, "epochs": 20, "learning_rate": 0.01, **kw}),
    "deepfm": lambda **kw: DeepFM(**{**FAST, "epochs": 20, "learning_rate": 0.01, **kw}),
    "two-tower": lambda **kw: TwoTower(**{**FAST, "epochs": 20, "learning_rate": 0.01, **kw}),
    "softmax-dnn": lambda **kw: SoftmaxDNN(**{**FAST, "epochs": 20, "learning_rate": 0.01, **kw}),
}


class _WithFeatures:
    """Contract fixtures, with the block data's feature tables passed to fit."""

    @pytest.fixture
    def fitted(self, data):
        users, items = block_features(data)
        return self.make_model().fit(data, user_features=users, item_features=items)


class TestNeuMFContract(RecommenderContract):
    def make_model(self):
        return MODELS["neumf"]()


class TestFMContract(_WithFeatures, RecommenderContract):
    def make_model(self):
        return MODELS["fm"]()


class TestDeepFMContract(_WithFeatures, RecommenderContract):
    def make_model(self):
        return MODELS["deepfm"]()


class TestTwoTowerContract(_WithFeatures, RecommenderContract):
    def make_model(self):
        return MODELS["two-tower"]()


class TestSoftmaxDNNContract(_WithFeatures, RecommenderContract):
    def make_model(self):
        return MODELS["softmax-dnn"]()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_under_cli_name(name):
    assert model_class(name) is type(MODELS[name]())


OVERFIT = {
    "neumf": {"epochs": 60, "learning_rate": 0.01, "batch_size": 16},
    "fm": {"epochs": 60, "learning_rate": 0.01, "batch_size": 16},
    "deepfm": {"epochs": 60, "learning_rate": 0.01, "batch_size": 16},
    "two-tower": {"epochs": 60, "learning_rate": 0.01, "batch_size": 16, "id_dropout": 0.0, "use_history": False},
    "softmax-dnn": {"epochs": 60, "learning_rate": 0.01, "batch_size": 16, "use_user_id": True, "leave_target_out": False},
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_memorizes_random_data(name):
    """No structure to exploit: ranking the training positives first means the model learns."""
    data = random_interactions()
    users, items = block_features(data)
    model = MODELS[name](**OVERFIT[name]).fit(data, user_features=users, item_features=items)
    scores = model.score_indices(np.arange(data.n_users))
    assert train_auc(scores, data.matrix) >= (0.93 if name == "softmax-dnn" else 0.97)
    # an untrained model of the same shape is near chance: the check can fail
    untrained = MODELS[name](**{**OVERFIT[name], "epochs": 1, "learning_rate": 1e-6}).fit(
        data, user_features=users, item_features=items)
    assert train_auc(untrained.score_indices(np.arange(data.n_users)), data.matrix) < 0.8


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_same_scores_other_seed_differs(name):
    data = block_interactions(20, 16)
    users, items = block_features(data)
    runs = [MODELS[name](epochs=3, seed=s).fit(data, user_features=users, item_features=items)
            .score_indices(np.arange(5)) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_identical_scores_and_history(name, tmp_path):
    data = block_interactions(20, 16)
    users, items = block_features(data)
    model = MODELS[name](epochs=3, validation_fraction=0.2).fit(data, user_features=users, item_features=items)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(model.score_indices(np.arange(20)), loaded.score_indices(np.arange(20)))
    assert loaded.history_.valid == model.history_.valid and len(model.history_.valid) >= 1
    assert not any(p.suffix in (".pt", ".pkl") for p in (tmp_path / "m").iterdir())


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("param,value,pattern", [
    ("epochs", 0, r"epochs=0: Input should be greater than 0; fix: set epochs to an integer > 0, e\.g\. \d+ \(the default\)"),
    ("learning_rate", -0.1, r"learning_rate=-0\.1: Input should be greater than 0; fix: set learning_rate to a number > 0"),
    ("batch_size", 2.5, r"batch_size=2\.5: Input should be a valid integer, got a number with a fractional part"),
    ("batch_size", True, r"batch_size=True: expected a number, not true/false"),
    ("validation_fraction", 0.5, (r"validation_fraction=0\.5: Input should be less than 0\.5; "
                                 r"fix: set validation_fraction to a number >= 0 and < 0\.5, e\.g\. 0\.1 \(the default\)")),
    ("hidden", [0], r"hidden\.0=0: Input should be greater than 0; fix: set hidden\.0 to list\[int > 0\]"),
    ("num_threads", 0, r"num_threads=0: Input should be greater than 0; fix: set num_threads to an integer > 0 or None"),
])
def test_bad_params_raise_config_error(name, param, value, pattern):
    with pytest.raises(ConfigError, match=rf"^model '{name}': {pattern}"):
        MODELS[name](**{param: value}).fit(block_interactions(10, 8))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_device_is_refused(name):
    """The device is checked after the declaration: whether it exists depends on the machine."""
    with pytest.raises(ConfigError, match="device='tpu' is not supported"):
        MODELS[name](device="tpu").fit(block_interactions(10, 8))


@pytest.mark.parametrize("name,param,value,pattern", [
    ("two-tower", "similarity", "l1", (r"similarity='l1': Input should be 'cosine' or 'dot'; "
                                      r"fix: set similarity to one of 'cosine', 'dot', e\.g\. 'cosine' \(the default\)")),
    ("two-tower", "temperature", 0, r"temperature=0: Input should be greater than 0"),
    ("two-tower", "dropout", 1.0, r"dropout=1\.0: Input should be less than 1; fix: set dropout to a number >= 0 and < 1"),
    ("two-tower", "frequency_alpha", 1.5, (r"frequency_alpha=1\.5: Input should be less than or equal to 1; "
                                         r"fix: set frequency_alpha to a number > 0 and <= 1")),
    ("fm", "loss", "hinge", r"loss='hinge': Input should be 'bpr' or 'bce'"),
    ("neumf", "negatives", 0, (r"negatives=0: Input should be greater than 0; fix: set negatives to an integer > 0, "
                              r"e\.g\. 4 \(the default\)")),
    ("neumf", "alpha", 2.0, r"alpha=2\.0: Input should be less than or equal to 1"),
    ("neumf", "hidden", [], (r"hidden=\[\]: List should have at least 1 item after validation, not 0; "
                            r"fix: set hidden to list\[int > 0\] of length >= 1")),
    ("softmax-dnn", "negatives", -1, r"negatives=-1: Input should be greater than or equal to 0"),
    ("softmax-dnn", "hidden", [], r"hidden=\[\]: List should have at least 1 item"),
])
def test_model_specific_bad_params(name, param, value, pattern):
    with pytest.raises(ConfigError, match=rf"^model '{name}': {pattern}"):
        MODELS[name](**{param: value}).fit(block_interactions(10, 8))


def test_every_problem_is_named_at_once():
    """Two bad values: one error naming both keys, in the one validator's wording."""
    with pytest.raises(ConfigError) as err:
        MODELS["fm"](epochs=0, dropout=-0.1).fit(block_interactions(10, 8))
    assert str(err.value) == (
        "model 'fm': dropout=-0.1: Input should be greater than or equal to 0; "
        "fix: set dropout to a number >= 0 and < 1, e.g. 0.0 (the default); "
        "epochs=0: Input should be greater than 0; fix: set epochs to an integer > 0, e.g. 20 (the default)")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_components_listing_shows_the_declared_constraints(name, capsys):
    """``shortlist components models NAME`` prints each parameter's declared range."""
    from shortlist.cli.main import main

    assert main(["components", "models", name]) == 0
    lines = dict(line.strip().split(": ", 1) for line in capsys.readouterr().out.splitlines()[1:])
    widths = "list[int > 0] of length >= 1" if name in ("neumf", "softmax-dnn") else "list[int > 0]"
    assert lines["hidden"].startswith(widths + " = ")
    assert lines["epochs"].startswith("an integer > 0 = ")
    assert lines["validation_fraction"] == "a number >= 0 and < 0.5 = 0.1"
    assert lines["num_threads"] == "an integer > 0 or None = None"
    if name == "two-tower":
        assert lines["similarity"] == "one of 'cosine', 'dot' = 'cosine'"
        assert lines["frequency_alpha"] == "a number > 0 and <= 1 = 0.01"


def test_hidden_given_as_cli_text():
    from shortlist.models import create_model

    model = create_model("deepfm", {"hidden": "16,8", "epochs": "1", "device": "cpu"})
    model.fit(block_interactions(10, 8))
    assert [m.out_features for m in model.module_.deep if isinstance(m, torch.nn.Linear)] == [16, 8, 1]
    with pytest.raises(ConfigError, match=r"model 'fm': hidden\.0='a': .*valid integer"):
        create_model("fm", {"hidden": "a,b"}).fit(block_interactions(10, 8))


def test_neumf_pretraining_starts_from_branches():
    data = block_interactions()
    model = NeuMF(**{**FAST, "epochs": 1, "pretrain_epochs": 20, "learning_rate": 0.01}).fit(data)
    assert len(model.history_.loss) == 1
    assert _in_community(model, data) >= 0.9  # one NeuMF epoch alone does not get there


def test_neumf_init_mixes_branch_logits_with_alpha():
    model = NeuMF(alpha=0.3, hidden=[8, 4], factors=4)
    model.config_ = {"n_users": 5, "n_items": 6}
    torch.manual_seed(0)
    gmf, mlp_ = model._make_module("gmf"), model._make_module("mlp")
    for m in (gmf, mlp_):
        torch.nn.init.normal_(m.out.weight)
    model.module_ = model._make_module()
    model._init_from(gmf, mlp_)
    u, i = torch.tensor([0, 1, 4]), torch.tensor([5, 2, 0])
    torch.testing.assert_close(model.module_(u, i), 0.3 * gmf(u, i) + 0.7 * mlp_(u, i))


def test_softmax_dnn_sampled_softmax_learns():
    data = block_interactions()
    model = SoftmaxDNN(**{**FAST, "epochs": 20, "learning_rate": 0.01, "negatives": 8}).fit(data)
    assert _in_community(model, data) >= 0.9


def test_factor_exports_reproduce_scores():
    data = block_interactions(20, 16)
    users, items = block_features(data)
    for cls in (FM, TwoTower, SoftmaxDNN):
        m = MODELS[cls.name](epochs=2).fit(data, user_features=users, item_features=items)
        np.testing.assert_allclose(m.user_factors_[:4] @ m.item_factors_.T, m.score_indices(np.arange(4)),
                                   rtol=1e-5, atol=1e-5)


def test_recommend_from_history_for_new_users():
    data = block_interactions()
    for name in ("two-tower", "softmax-dnn"):
        m = MODELS[name]().fit(data)
        hist = data.matrix[[0, 39]]
        top, _ = m.recommend_from_history(hist, 5)
        assert (top[0] < 15).mean() >= 0.8 and (top[1] >= 15).mean() >= 0.8


def test_learning_curve_png(tmp_path):
    m = MODELS["fm"](epochs=2, validation_fraction=0.2).fit(block_interactions(20, 16))
    assert m.plot_learning_curve(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def _in_community(model, data) -> float:
    rec = model.recommend(np.arange(data.n_users), k=5)
    ug = np.arange(data.n_users) >= data.n_users // 2
    ig = rec.item_indices >= data.n_items // 2
    return float((ig == ug[:, None]).mean())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cuda_device_is_honoured(name, monkeypatch):
    from shortlist.neural.trainer import Trainer

    devices = []
    original = Trainer.fit

    def spy(self, module, *args, **kwargs):
        devices.append(next(module.parameters()).device.type)
        return original(self, module, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", spy)
    data = block_interactions()
    users, items = block_features(data)
    model = MODELS[name](device="cuda").fit(data, user_features=users, item_features=items)
    assert devices and set(devices) == {"cuda"}
    assert next(model.module_.parameters()).device.type == "cpu"  # fitted models live on the CPU
    assert _in_community(model, data) >= 0.85
