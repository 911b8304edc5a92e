"""Several endpoints serving one adapter (`scripts/map.py --endpoint A --endpoint B`): questions spread
over the healthy ones, an endpoint stopped mid-run is failed over with nothing lost, and it rejoins
once its health check passes again."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from conftest import GOLDEN, free_port

from llama_mapper.mapping.routes import BackendError

pytestmark = pytest.mark.slow  # two servers of the trained tiny adapter

REF = "demo/fleet@v1.0.0"


@pytest.fixture(scope="module")
def released(trained):
    from llama_mapper.hub.release import push_adapter

    return push_adapter(trained[0], "demo/fleet", "v1.0.0")


def golden_lines(per_detector: int = 2) -> list[str]:
    lines = []
    for path in sorted(GOLDEN.glob("*.jsonl")):
        for i, line in enumerate(path.read_text().splitlines()[:per_detector]):
            case = json.loads(line)
            lines.append(
                json.dumps({"id": f"{path.stem}-{i}", "detector": case["detector"], "output": case["output"]})
            )
    return lines


def test_an_endpoint_stopped_mid_run_loses_nothing_and_rejoins_when_it_recovers(released):
    from llama_mapper.mapping.batch import map_file
    from llama_mapper.serving.client import Fleet
    from llama_mapper.serving.server import ModelServer, open_routes

    lines = golden_lines()
    port = free_port()
    with ModelServer(adapters=[REF]) as steady:
        second = ModelServer(adapters=[REF], port=port).start()
        try:
            with open_routes(["model"], REF, [steady.url, second.url]) as routes:
                fleet = routes.backend
                assert isinstance(fleet, Fleet) and fleet.healthy() == [steady.url, second.url]

                def stop_second_once_it_has_answered():
                    deadline = time.monotonic() + 120
                    while fleet.backends[second.url].stats["model_calls"] < 3 and time.monotonic() < deadline:
                        time.sleep(0.01)
                    second.stop()  # mid-run: first 503s while it drains, then refused connections

                stopper = threading.Thread(target=stop_second_once_it_has_answered)
                stopper.start()
                out = io.StringIO()
                summary = map_file(io.StringIO("\n".join(lines) + "\n"), out, routes.mappers["model"],
                                   progress=False, workers=4)  # fmt: skip
                stopper.join()
                records = [json.loads(line) for line in out.getvalue().splitlines()]
                assert summary.errors == 0 and [r["id"] for r in records] == [
                    json.loads(x)["id"] for x in lines
                ]
                assert all(r["provenance"]["model"] == fleet.model_ref for r in records)
                assert fleet.backends[second.url].stats["model_calls"] >= 3  # both answered
                assert fleet.backends[steady.url].stats["model_calls"] > 0
                assert fleet.healthy() == [steady.url]  # skipped while down
                # back on the same address: it joins again once /health answers
                second = ModelServer(adapters=[REF], port=port).start()
                deadline = time.monotonic() + 30
                while second.url not in fleet.healthy() and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert fleet.healthy() == [steady.url, second.url]
        finally:
            second.stop()


def test_a_down_endpoint_at_start_is_skipped_and_a_wrong_one_is_refused(released, trained):
    from llama_mapper.serving.client import Fleet, ModelBackend
    from llama_mapper.serving.server import ModelServer

    labels = ["HARM.SPEECH.Toxicity", "OTHER.Safe"]
    dead = f"http://127.0.0.1:{free_port()}"
    with ModelServer(adapters=[REF]) as live:
        fleet = Fleet([dead, live.url], lambda url: ModelBackend(url, REF, labels), cooldown_s=60)
        assert fleet.healthy() == [live.url]
        answer = fleet.answer([{"role": "user", "content": "detector: acme\ncategory: hate speech"}])
        assert set(answer.labels) <= set(labels) and fleet.stats["model_calls"] == 1
        with pytest.raises(BackendError, match="does not serve"):
            Fleet([live.url], lambda url: ModelBackend(url, str(trained[0]), labels))
    with pytest.raises(BackendError, match="no endpoint can be reached"):
        Fleet([dead], lambda url: ModelBackend(url, REF, labels))


def test_the_map_script_takes_several_endpoints():
    from llama_mapper.commands.map import parse_args

    args = parse_args(
        ["--route", "model", "--adapter", REF, "--endpoint", "http://a:80", "--endpoint", "http://b:80"]
    )
    assert args.endpoint == ["http://a:80", "http://b:80"]
