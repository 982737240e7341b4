"""A plain install without Ray: ``import shortlist`` and a pipeline work; the ray engine says how to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys

    class BlockRay:  # as if ray were not installed: every import of it fails
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, BlockRay())
    import shortlist
    from shortlist.data.world import generate_world
    from shortlist.errors import ConfigError
    from shortlist.pipeline import Pipeline
    from tests.distributed.specs import spec

    data = generate_world("tiny", seed=5).dataset()
    pipe = Pipeline(spec("local")).fit(data, progress=False)
    assert len(pipe.recommend(data.interactions.users.ids[0]).item_ids) == 5
    import tempfile
    from pathlib import Path
    from shortlist.cli.main import main
    from shortlist.distributed.batch import read_recommendations
    tmp = Path(tempfile.mkdtemp())
    pipe.save(tmp / "model")
    assert main(["batch-recommend", "--model-dir", str(tmp / "model"), "--out", str(tmp / "recs"), "--k", "5",
                 "--batch-size", "64"]) == 0
    recs = read_recommendations(tmp / "recs").to_pydict()
    first = pipe.recommend(recs["user_id"][0], k=5)
    assert recs["item_id"][:5] == list(first.item_ids), (recs["item_id"][:5], first.item_ids)
    assert len(set(recs["user_id"])) == len(pipe.users_) and len(recs["rank"]) == 5 * len(pipe.users_)
    import shortlist.distributed  # the package itself imports; Ray is needed only to run on it
    ray_pipe = Pipeline(spec("ray"))
    try:
        with shortlist.distributed.on_ray(ray_pipe):
            pass
    except ConfigError as exc:
        assert "pip install 'shortlist[ray]'" in str(exc), exc
    else:
        raise SystemExit("on_ray without Ray did not fail")
    assert not any(m == "ray" or m.startswith("ray.") for m in sys.modules), "ray got imported"
    print("ok", shortlist.__name__)
''')


def test_shortlist_and_a_pipeline_work_without_ray():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=root, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok shortlist")
