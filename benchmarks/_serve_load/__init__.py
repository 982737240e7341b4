"""The parts of ``benchmarks/serve_load.py``, one job each.

* :mod:`.model` - the served pipeline: trained once per catalog and config, then reused;
* :mod:`.processes` - child processes: the server under test, the bare uvicorn peer, redis, their CPU;
* :mod:`.load` - the request mix and the load generators (wrk or httpx), one load phase at a time;
* :mod:`.events` - the event path: POST /events round trips and event-to-state update latency;
* :mod:`.phases` - the run: each server started, warmed up, loaded and stopped in turn;
* :mod:`.report` - the printed results and the targets.
"""
