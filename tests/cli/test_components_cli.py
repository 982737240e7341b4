"""``shortlist components``: one listing for every registry (models, sources, stages, rules, policies)."""

import pytest

from shortlist.cli.main import main


@pytest.mark.parametrize(("kind", "name"), [("models", "ease"), ("sources", "popular"), ("stages", "lightgbm"),
                                            ("rules", "creator_cap"), ("policies", "egreedy")])
def test_every_kind_is_listed_with_summaries_and_parameters(kind, name, capsys):
    assert main(["components", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[0] == name and len(line.split()) > 2 for line in lines)  # name, class, summary
    assert main(["components", kind, name]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == name and all(line.startswith("    ") for line in out[1:])


def test_an_unknown_name_suggests_the_close_one(capsys):
    assert main(["components", "rules", "creator_kap"]) != 0
    err = capsys.readouterr().err
    assert "did you mean 'creator_cap'" in err and len(err.strip().splitlines()) == 1
