"""Server time of the inspector's pages on the 100k-item latency catalog: p50/p95 per page.

The catalog is the one of benchmarks/serve_load.py --catalog synthetic-100k (configs/latency.toml on
a 50k-user, 100k-item, 1M-interaction synthetic world), trained once and reused from
benchmarks/results/serve-model-synthetic-100k/. Each page is requested in-process through the
ASGI app (FastAPI's TestClient): server time = routing + pipeline + rendering, no network.
Target: a user page with its trace at p95 <= 300 ms.

    nice -n 10 .venv/bin/python benchmarks/ui_pages.py [--n 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from serve_load import trained_model  # benchmarks/serve_load.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="requests per page (distinct users / items)")
    ap.add_argument("--model-cache", default=str(ROOT / "results" / "serve-model-synthetic-100k"))
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from shortlist.serving import Settings, create_app

    model = trained_model("synthetic-100k", None, 1, Path(args.model_cache))
    with tempfile.TemporaryDirectory() as tmp, TestClient(create_app(Settings(
            model_dir=model, events_db=Path(tmp) / "events.sqlite"))) as client:
        p = client.app.state.holder.current.pipeline
        rng = np.random.default_rng(0)
        users = [str(u) for u in p.users_.ids[rng.choice(len(p.users_), args.n, replace=False)]]
        items = [str(i) for i in p.items_.ids[rng.choice(len(p.items_), args.n, replace=False)]]
        pages = {
            "overview": ["/ui"] * args.n,
            "user (final list + trace)": [f"/ui/users/{u}" for u in users],
            "user, what-if k=20": [f"/ui/users/{u}?k=20&region=DE" for u in users],
            "item + why not shown": [f"/ui/items/{i}?user={u}" for i, u in zip(items, users)],
            "experiments": ["/ui/experiments"] * args.n,
            "search": [f"/ui/search?q={u[:3]}" for u in users],
        }
        for url in (pages["user (final list + trace)"][0], pages["item + why not shown"][0], "/ui"):
            client.get(url)  # first calls build caches (catalog view, numba kernels)
        print(f"{len(p.users_):,} users, {len(p.items_):,} items; {args.n} requests per page, in-process\n")
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KiB':>6}")
        for name, urls in pages.items():
            ms, size = [], 0
            for url in urls:
                t0 = time.perf_counter()
                r = client.get(url)
                ms.append((time.perf_counter() - t0) * 1e3)
                assert r.status_code == 200, (url, r.status_code, r.text[-300:])
                size = len(r.content)
            print(f"{name:<28} {np.percentile(ms, 50):>8.1f} {np.percentile(ms, 95):>8.1f} {max(ms):>8.1f} "
                  f"{size / 1024:>6.1f}")


if __name__ == "__main__":
    main()
