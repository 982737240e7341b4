"""Every command, given a missing path, an empty file or a value of the wrong type, answers one error line.

The cases are keyed by command; a test checks that the keys are exactly the commands the
parser knows, so a new command must bring its own bad inputs here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from shortlist.cli.main import build_parser, main
from tests.serving.helpers import train_tiny

# {missing}: a path that does not exist; {empty}: a 0-byte .csv; {text}: a text file that is no
# table, model or TOML; {dir}: an empty folder; {model}: a trained pipeline folder
CASES: dict[str, list[str]] = {
    "batch-recommend": [
        "batch-recommend --model-dir {missing} --out {dir}/recs",
        "batch-recommend --model-dir {empty} --out {dir}/recs",
        "batch-recommend --model-dir {text} --out {dir}/recs",
        "batch-recommend --model-dir {dir} --out {dir}/recs",
        "batch-recommend --model-dir {model} --out {text}",
        "batch-recommend --model-dir {model} --out {dir}/recs --k abc",
    ],
    "train-online": [
        "train-online --model-dir {missing} --until-idle",
        "train-online --model-dir {text} --until-idle",
        "train-online --model-dir {model} --events-db {empty} --until-idle",
        "train-online --model-dir {model} --events-db {text} --until-idle",
        "train-online --model-dir {model} --config notjson --until-idle",
        "train-online --model-dir {model} --sync-every abc --until-idle",
    ],
    "ui": [
        "ui --model-dir {missing}",
        "ui --model-dir {empty}",
        "ui --model-dir {text}",
        "ui --model-dir {dir}",
        "ui --model-dir {model} --compare-dir {missing}",
        "ui --model-dir {model} --port abc",
    ],
    "components": [
        "components rules creator_kap",
        "components colours",
    ],
    "datasets": [
        "datasets inspect {missing}",
        "datasets inspect {empty}",
        "datasets inspect {text}",
        "datasets inspect {dir}",
        "datasets fetch no-such-dataset --to {dir}",
        "datasets fetch ml-100k --to {text}",
    ],
    "demo": [
        "demo --config {missing}",
        "demo --config {empty}",
        "demo --config {dir}",
        "demo --config {text}",
        "demo --seed abc",
        "demo --out {text}",
    ],
    "evaluate": [
        "evaluate --data {missing} --model popularity",
        "evaluate --data {empty} --columns user=user,item=item --model popularity",
        "evaluate --data {dir} --model popularity",
        "evaluate --data {text} --model popularity",
        "evaluate --data synthetic:tiny --model popularity --k abc",
        "evaluate --data synthetic:tiny --config {text}",
        "evaluate --data synthetic:tiny --config {missing}",
        "evaluate --data synthetic:tiny --model popularity --param factors",
    ],
    "models": [
        "models no-such-model",
    ],
    "recommend": [
        "recommend --model-dir {missing} --user 1",
        "recommend --model-dir {empty} --user 1",
        "recommend --model-dir {text} --user 1",
        "recommend --model-dir {dir} --user 1",
        "recommend --model-dir {model} --user 1 --k abc",
        "recommend --model-dir {model} --user 1 --k 0",
    ],
    "retrain": [
        "retrain --events {missing} --model-dir {model} --out {dir}/v2",
        "retrain --events {empty} --model-dir {model} --out {dir}/v2",
        "retrain --events {text} --model-dir {model} --out {dir}/v2",
        "retrain --events {dir} --model-dir {model} --out {dir}/v2",
        "retrain --events {model}/events.sqlite --model-dir {text} --out {dir}/v2",
        "retrain --events {model}/events.sqlite --model-dir {model} --out {text}",
    ],
    "serve": [
        "serve --model-dir {missing}",
        "serve --model-dir {empty}",
        "serve --model-dir {text}",
        "serve --model-dir {dir}",
        "serve --model-dir {model} --port abc",
        "serve --model-dir {model} --config {missing}",
        "serve --model-dir {model} --config {text}",
        "serve --model-dir {model} --events-db {dir}",
        "serve --model-dir {model} --events-db {text}",
    ],
    "simulate": [
        "simulate --out {dir} --steps abc",
        "simulate --out {text} --steps 5 --seeds 1 --preset tiny",
        "simulate --out {dir} --world n_items=abc --steps 5 --seeds 1 --preset tiny",
    ],
    "train": [
        "train --data {missing} --out {dir}/m",
        "train --data {empty} --columns user=user,item=item --out {dir}/m",
        "train --data {dir} --out {dir}/m",
        "train --data {text} --out {dir}/m",
        "train --data synthetic:tiny --config {text} --out {dir}/m",
        "train --data synthetic:tiny --out {text}",
        "train --data synthetic:tiny --out {dir}/m --budget abc",
        "train --data synthetic:tiny --out {model}",
    ],
}


def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_every_command_has_bad_input_cases():
    assert set(CASES) == _commands()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "text.txt").write_text("this is not a table, a model folder or TOML = [\n")
    (tmp / "folder").mkdir()
    model = train_tiny(tmp / "model")
    from shortlist.online.event_log import EventLog

    EventLog(model / "events.sqlite").close()
    return {"missing": str(tmp / "no" / "such"), "empty": str(tmp / "empty.csv"), "text": str(tmp / "text.txt"),
            "dir": str(tmp / "folder"), "model": str(model)}


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    """A serve case that got past its checks would block in uvicorn: make that return, so the test fails."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    for var in ("SHORTLIST_SETTINGS_JSON", "SHORTLIST_SETTINGS", "SHORTLIST_MODEL_DIR", "SHORTLIST_EVENTS_DB"):
        monkeypatch.delenv(var, raising=False)


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)


@pytest.mark.parametrize("case", [c for cases in CASES.values() for c in cases])
def test_bad_input_is_one_error_line(case, paths, capsys):
    argv = case.format(**paths).split()
    code = _run(argv)
    out, err = capsys.readouterr()
    assert code == 2, (case, out, err)  # 1 is the exit code of an unexpected error (a bug)
    assert "Traceback" not in out + err and "unexpected" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], (case, err)
    assert len(errors[0]) > len("error: ") + 20  # says what is wrong, not just "error"


def test_train_refuses_an_existing_model_folder_and_names_force(paths, capsys):
    assert _run(["train", "--data", "synthetic:tiny", "--out", paths["model"]]) == 2
    err = capsys.readouterr().err.strip()
    assert "already holds a trained pipeline" in err and "--force" in err and "\n" not in err


@pytest.mark.parametrize("args", [
    ["serve", "--model-dir", "{missing}"],
    ["evaluate", "--data", "{empty}", "--columns", "user=user,item=item", "--model", "popularity"],
])
def test_real_entry_point_prints_no_traceback(args, paths):
    proc = subprocess.run([sys.executable, "-m", "shortlist", *(a.format(**paths) for a in args)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ")


def test_unexpected_error_is_one_line_with_exit_1_and_traceback_on_request(monkeypatch, capsys):
    import shortlist.cli.models as models_cmd

    def boom(args):
        raise TypeError("something\nbroke")

    monkeypatch.setattr(models_cmd, "run", boom)
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: unexpected TypeError: something broke (a bug in shortlist: rerun with "
                   "`shortlist --traceback ...` and report the output)\n")
    with pytest.raises(TypeError, match="broke"):
        main(["--traceback", "models"])


def test_os_error_names_the_file(monkeypatch, capsys):
    import shortlist.cli.models as models_cmd

    def denied(args):
        raise PermissionError(13, "Permission denied", "/srv/models/v1")

    monkeypatch.setattr(models_cmd, "run", denied)
    assert main(["models"]) == 2
    assert capsys.readouterr().err == "error: Permission denied: /srv/models/v1\n"


def test_train_force_overwrites_a_model_folder(tmp_path, capsys):
    out = tmp_path / "model"
    train_tiny(out)
    before = (out / "pipeline.json").read_text()
    from shortlist.pipeline.defaults import world_config_path

    code = _run(["train", "--data", "synthetic:tiny", "--config", str(world_config_path()), "--budget", "0",
                 "--out", str(out), "--force"])
    assert code == 0, capsys.readouterr().err
    assert (out / "pipeline.json").read_text() != before
