"""``--no-header`` prints the names the columns got; a header-less file keeps its first row as data."""

from __future__ import annotations

import json

from shortlist.cli.main import main

ROWS = "1\t10\t5\n1\t20\t3\n2\t10\t4\n2\t30\t1\n3\t20\t5\n3\t30\t2\n4\t10\t4\n4\t30\t5\n"


def test_no_header_prints_the_column_names(tmp_path, capsys):
    path = tmp_path / "plays.tsv"
    path.write_text(ROWS)
    for args in (["--no-header", "--columns", "user=column_1,item=column_2"], ["--columns", "user=1,item=2"]):
        assert main(["evaluate", "--data", str(path), *args, "--model", "popularity", "--json"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out)["n_interactions"] == 8
        assert ("its 3 columns are named column_1, column_2, column_3; using user=column_1 (first value 1), "
                "item=column_2 (first value 10)") in err
