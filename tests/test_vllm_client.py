"""The model route against vLLM's OpenAI server (v0.11, the image `make vllm` runs), through a
stand-in: our server with ``protocol="vllm"`` answers TGI's routes 404 and lists the LoRA modules in
``GET /v1/models`` with vLLM's fields, as the vLLM LoRA docs show them ("LoRA model lineage in model
card": ``id``, ``object``, ``owned_by``, ``root``, ``parent``). The client must find that out itself."""

from __future__ import annotations

import httpx
import pytest

from llama_mapper.mapping.routes import BackendError

pytestmark = pytest.mark.slow  # serves the trained tiny adapter

LABELS = ["HARM.SPEECH.Toxicity", "PII.Contact.Email", "OTHER.Safe", "OTHER.Unknown"]


@pytest.fixture(scope="module")
def vllm(trained):
    from llama_mapper.hub.checkpoints import CheckpointManager
    from llama_mapper.hub.release import push_adapter
    from llama_mapper.serving.deploy import served_name
    from llama_mapper.serving.server import ModelServer

    push_adapter(trained[0], "demo/vllm", "v1.0.0")
    name = served_name(CheckpointManager().metadata("demo/vllm@v1.0.0"))  # as `make vllm` names it
    with ModelServer(adapters=[f"{name}=demo/vllm@v1.0.0"], protocol="vllm") as server:
        yield server, name


def test_the_stand_in_speaks_only_vllms_protocol(vllm):
    server, name = vllm
    assert httpx.get(f"{server.url}/info").status_code == 404
    assert httpx.post(f"{server.url}/generate", json={"inputs": "x"}).status_code == 404
    models = httpx.get(f"{server.url}/v1/models").json()
    base, lora = models["data"]
    assert base["parent"] is None and base["owned_by"] == "vllm"
    assert lora["id"] == name == "demo--vllm--v1.0.0" and lora["parent"] == base["id"] and lora["root"]


def test_the_backend_finds_vllm_by_what_it_answers_and_maps_through_it(vllm):
    from llama_mapper.serving.client import ModelBackend
    from llama_mapper.serving.server import open_routes

    server, name = vllm
    backend = ModelBackend(server.url, "demo/vllm@v1.0.0", LABELS)
    assert backend.protocol == "openai" and backend.adapter_id == name
    assert backend.grammar["type"] == "json_schema"  # OpenAI's structured output, not TGI's grammar
    answer = backend.answer([{"role": "user", "content": "detector: acme\ncategory: hate speech"}])
    assert answer.labels and set(answer.labels) <= set(LABELS) and 0.0 < answer.confidence <= 1.0
    request = {"detector": "acme-guard", "output": {"flagged": True, "labels": ["customer e-mail"]}}
    with open_routes(["model"], "demo/vllm@v1.0.0", server.url) as routes:
        event = routes.mappers["model"].map(request)
    assert event["provenance"]["model"].startswith("demo/vllm@v1.0.0#") and event["taxonomy"]


def test_an_adapter_vllm_does_not_list_is_refused_naming_what_it_serves(vllm, trained):
    from llama_mapper.serving.client import ModelBackend

    server, name = vllm
    with pytest.raises(BackendError, match=rf"does not serve tiny-lora@v0.0.1: it serves {name} \(vLLM"):
        ModelBackend(server.url, str(trained[0]), LABELS)


def test_an_endpoint_that_is_neither_is_refused(local_hub):
    from llama_mapper.serving.client import ModelBackend

    with pytest.raises(BackendError, match="neither TGI's /info nor OpenAI's /v1/models"):
        ModelBackend(local_hub.url, "demo/vllm@v1.0.0", LABELS)
