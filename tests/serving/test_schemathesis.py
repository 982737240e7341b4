"""schemathesis against the app's own OpenAPI document: valid requests are accepted, invalid ones rejected (4xx),
every status and body is the documented one. Run without the key and with it; bounded to a few examples per
operation so the whole file takes well under a minute.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi

from tests.serving.helpers import API_KEY, make_app, train_tiny

EXAMPLES = 60


class _NoLifespan:
    """The app without its lifespan: the fixture runs it once, schemathesis would run it (and close the log) per client."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The schema and one client for all calls."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    # max_batch and max_k below their defaults: the document must carry these settings, not the defaults
    app = make_app(train_tiny(tmp / "v1"), tmp, max_batch=5, max_k=50, max_history=8)
    shim = _NoLifespan(app)
    with TestClient(app), asgi.get_client(shim) as client:
        yield schemathesis.openapi.from_asgi("/openapi.json", shim), client


def _failures(schema, client, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (operation.body or len(operation.query) or len(operation.path_parameters)):
            continue  # nothing to make invalid (GET /health, GET /metrics)

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            case.call_and_validate(session=client, headers=headers)

        try:
            check()
        except (Exception, ExceptionGroup) as exc:  # noqa: BLE001 - one report per operation, all checked
            failures.append(f"{operation.label}: {exc}")
    return failures


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("auth", [False, True], ids=["no-key", "key"])
def test_schemathesis_finds_no_failure(served, mode, auth):
    headers = {"X-API-Key": API_KEY} if auth else {}
    failures = _failures(*served, mode, headers)
    assert not failures, "\n\n".join(failures)
