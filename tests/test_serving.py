"""The TGI-compatible model server, through huggingface_hub's InferenceClient on 127.0.0.1, with the
tiny adapter served by Hub tag (from the suite's local Hub) and as a local folder."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time

import httpx
import jsonschema
import pytest
from conftest import ROOT, free_port
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, OverloadedError, ValidationError

from llama_mapper.serving.grammar import label_schema

LABELS = ["HARM.SPEECH.Toxicity", "PII.Contact.Email", "JAILBREAK.Attempt", "OTHER.Safe"]
SCHEMA = label_schema(LABELS, max_items=3)
GRAMMAR = {"type": "json", "value": SCHEMA}

pytestmark = pytest.mark.slow  # every test serves the trained tiny adapter


@pytest.fixture(scope="module")
def released_adapter(trained):
    from llama_mapper.hub.release import push_adapter

    adapter, _ = trained
    return push_adapter(adapter, "demo/serve", "v1.0.0")


@pytest.fixture(scope="module")
def server(trained, released_adapter):
    from llama_mapper.serving.server import ModelServer

    adapter, _ = trained
    with ModelServer(adapters=["demo/serve@v1.0.0", f"local={adapter}"], max_batch_size=8) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return InferenceClient(server.url)


def test_text_generation_with_grammar_adapter_and_details_is_schema_valid(client, released_adapter):
    out = client.text_generation(
        "detector: acme\ncategory: hate speech",
        adapter_id="demo/serve@v1.0.0",
        grammar=GRAMMAR,
        details=True,
        decoder_input_details=True,
        top_n_tokens=2,
        max_new_tokens=40,
        return_full_text=False,
    )
    labels = json.loads(out.generated_text)
    # A grammar constrains the tokens, not set semantics: uniqueItems is not enforced (by xgrammar or
    # by TGI's grammars); the mapper's answer parser drops repeats (parse_answer).
    jsonschema.validate(labels, {k: v for k, v in SCHEMA.items() if k != "uniqueItems"})
    assert out.details.finish_reason == "eos_token"
    assert out.details.generated_tokens == len(out.details.tokens)
    assert all(t.logprob <= 0 for t in out.details.tokens)
    assert "".join(t.text for t in out.details.tokens if not t.special) == out.generated_text
    assert len(out.details.prefill) > 3 and out.details.prefill[0].logprob is None
    assert all(1 <= len(top) <= 2 for top in out.details.top_tokens)


def test_greedy_answers_equal_transformers_generate_whatever_the_batch(server, client, trained):
    """The decode loop (left padding, KV cache, batching) gives exactly transformers' greedy tokens."""
    import torch

    from llama_mapper.hub.checkpoints import CheckpointManager

    adapter, _ = trained
    model, tokenizer, _ = CheckpointManager().load_checkpoint(str(adapter))
    prompts = ["a", "detector: acme\ncategory: a much longer category string, with words", "hello there"]
    expected = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=6, do_sample=False)
        expected.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # concurrent: one batch, mixed lengths
        got = list(
            pool.map(lambda p: client.text_generation(p, adapter_id="local", max_new_tokens=6), prompts)
        )
    assert got == expected
    assert [client.text_generation(p, adapter_id="local", max_new_tokens=6) for p in prompts] == expected


def test_adapters_are_served_by_tag_with_their_commit(server, released_adapter):
    info = httpx.get(f"{server.url}/info").json()
    assert info["model_id"] == "tiny-random-llama" and info["max_stop_sequences"] == 4
    served = {a["id"]: a for a in info["adapters"]}
    assert served["demo/serve@v1.0.0"]["sha"] == released_adapter.sha
    assert served["local"]["sha"] is None
    client = InferenceClient(server.url)
    by_repo = client.text_generation("x", adapter_id="demo/serve", max_new_tokens=4)  # TGI's id for repo@rev
    assert by_repo == client.text_generation("x", adapter_id="demo/serve@v1.0.0", max_new_tokens=4)


def test_unknown_adapter_is_a_422_not_the_base_model(client, server):
    with pytest.raises(ValidationError, match="unknown adapter_id 'demo/other'.*serves"):
        client.text_generation("x", adapter_id="demo/other", max_new_tokens=3)
    with pytest.raises(HfHubHTTPError, match="unknown adapter_id") as refused:  # chat: no typed error
        client.chat_completion([{"role": "user", "content": "hi"}], model="nope", max_tokens=3)
    assert refused.value.response.status_code == 422
    answer = httpx.post(f"{server.url}/generate", json={"inputs": "x", "parameters": {"adapter_id": "nope"}})
    assert answer.status_code == 422 and answer.json()["error_type"] == "validation"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "up to 4 stop sequences"),
        ({"top_n_tokens": 9}, "top_n_tokens"),
        ({"grammar": {"type": "regex", "value": "(["}}, "invalid regex grammar"),
        ({"max_new_tokens": 5000}, "must be <= 1536"),
        ({"best_of": 2}, "best_of"),
    ],
)
def test_invalid_parameters_get_tgis_validation_error(server, parameters, message):
    answer = httpx.post(f"{server.url}/generate", json={"inputs": "x", "parameters": parameters})
    assert answer.status_code == 422
    assert answer.json()["error_type"] == "validation" and message in answer.json()["error"]


def test_malformed_bodies_are_422_in_tgis_shape(server):
    for body in (
        {"parameters": {}},
        {"inputs": 3},
        {"inputs": "x", "parameters": {"max_new_tokens": "many"}},
    ):
        answer = httpx.post(f"{server.url}/generate", json=body)
        assert answer.status_code == 422 and set(answer.json()) == {"error", "error_type"}
    assert (
        httpx.post(f"{server.url}/generate", json={"inputs": ""}).json()["error"]
        == "`inputs` cannot be empty"
    )


def test_streaming_tokens_add_up_to_the_final_text(client):
    events = list(
        client.text_generation("hello", adapter_id="local", max_new_tokens=6, stream=True, details=True)
    )
    assert all(e.generated_text is None for e in events[:-1])
    assert "".join(e.token.text for e in events if not e.token.special) == events[-1].generated_text
    assert events[-1].details.generated_tokens == len(events)
    assert events[-1].generated_text == client.text_generation("hello", adapter_id="local", max_new_tokens=6)


def test_chat_completion_picks_the_adapter_and_follows_response_format(client):
    out = client.chat_completion(
        [{"role": "user", "content": "detector: acme\ncategory: e-mail address"}],
        model="demo/serve@v1.0.0",
        max_tokens=40,
        response_format={"type": "json", "value": SCHEMA},
        logprobs=True,
        top_logprobs=2,
    )
    jsonschema.validate(json.loads(out.choices[0].message.content), SCHEMA)
    assert out.choices[0].finish_reason == "stop" and out.usage.completion_tokens > 0
    assert out.choices[0].logprobs.content[0].logprob <= 0
    chunks = list(
        client.chat_completion([{"role": "user", "content": "hi"}], model="local", max_tokens=5, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert (
        text
        == client.chat_completion([{"role": "user", "content": "hi"}], model="local", max_tokens=5)
        .choices[0]
        .message.content
    )


def test_concurrent_clients_lose_nothing_and_get_429_past_the_queue_bound(trained):
    from llama_mapper.serving.server import ModelServer

    adapter, _ = trained
    with ModelServer(checkpoint_path=str(adapter), max_concurrent_requests=4, max_batch_size=2) as srv:
        client = InferenceClient(srv.url)

        def ask(i: int) -> str:
            try:
                return client.text_generation(
                    f"request {i}", max_new_tokens=24, adapter_id=adapter.name, seed=i
                )
            except OverloadedError:
                return "429"

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(32)))
        assert len(answers) == 32
        assert "429" in answers and sum(a != "429" for a in answers) >= 4
        assert srv.engine.in_flight == 0 and srv.engine.stats["requests"] == sum(a != "429" for a in answers)
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'tgi_request_failure_total{err="overloaded",route="/"}' in metrics
        # Each answer is the one for its own prompt: a sequential rerun gives the same text.
        for i in (0, 5):
            if answers[i] != "429":
                assert (
                    client.text_generation(f"request {i}", max_new_tokens=24, adapter_id=adapter.name, seed=i)
                    == answers[i]
                )


def test_api_key_health_and_metrics(trained):
    from llama_mapper.serving.server import ModelServer

    adapter, _ = trained
    with ModelServer(checkpoint_path=str(adapter), api_key="sekret") as srv:
        assert httpx.get(f"{srv.url}/health").status_code == 200
        refused = httpx.post(f"{srv.url}/generate", json={"inputs": "x"})
        assert refused.status_code == 401 and refused.json()["error_type"] == "authentication"
        assert InferenceClient(srv.url, api_key="sekret").text_generation("x", max_new_tokens=2)
        metrics = httpx.get(f"{srv.url}/metrics", headers={"Authorization": "Bearer sekret"}).text
        assert "tgi_request_duration_bucket" in metrics and "tgi_queue_size 0.0" in metrics
        assert httpx.get(f"{srv.url}/openapi.json").json()["paths"]["/generate"]


def test_serve_script_starts_and_answers(trained):
    adapter, _ = trained
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "serve.py"), "--adapter", str(adapter), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        out = InferenceClient(f"http://127.0.0.1:{port}").text_generation(
            "x", grammar=GRAMMAR, adapter_id=adapter.name, details=True, max_new_tokens=40
        )
        jsonschema.validate(json.loads(out.generated_text), SCHEMA)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "serve.py"), "--adapter", "demo/none@v1.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "repository demo/none not found" in bad.stderr


def test_chat_samples_when_given_a_temperature_and_is_greedy_without(client):
    messages = [{"role": "user", "content": "hello"}]

    def ask(**kwargs) -> str:
        return (
            client.chat_completion(messages, model="local", max_tokens=8, **kwargs).choices[0].message.content
        )

    assert len({ask() for _ in range(3)}) == 1  # greedy
    assert len({ask(temperature=3.0) for _ in range(4)}) > 1  # sampled, no seed needed
    assert ask(temperature=3.0, seed=7) == ask(temperature=3.0, seed=7)  # seeded: reproducible
    with pytest.raises(ValidationError, match="temperature"):
        client.text_generation("x", do_sample=True, temperature=-1.0, max_new_tokens=2)


def _mapping_prompts(engine, n: int = 24) -> list[tuple[str, list[str]]]:
    """Mapping prompts as the model route writes them: a category and 5 candidate labels each."""
    import random

    from llama_mapper.mapping.prompt import build_prompt
    from llama_mapper.mapping.rules import RulesMapper

    labels = [label.name for label in RulesMapper().taxonomy.labels]
    rng = random.Random(7)
    words = ["hate speech", "email address", "jailbreak attempt", "xq-77", "self harm", "credit card"]
    out = []
    for i in range(n):
        candidates = rng.sample(labels, 5)
        messages = build_prompt(f"acme-{i % 3}", category=rng.choice(words), candidates=candidates)
        prompt = engine.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        out.append((prompt, candidates))
    return out


def test_candidates_change_how_fast_an_answer_comes_never_which(server):
    """Candidate verification replays greedy decoding on one pass's logits: the same tokens and
    log-probabilities as plain decoding, whether greedy decoding stays on a candidate (verified) or
    leaves them (decoded as usual), alone or batched with prompts of other lengths."""
    from llama_mapper.mapping.prompt import candidate_answers
    from llama_mapper.mapping.rules import RulesMapper
    from llama_mapper.serving.engine import Parameters

    engine = server.engine
    grammar = {"type": "json", "value": label_schema([x.name for x in RulesMapper().taxonomy.labels], 4)}
    prompts = _mapping_prompts(engine)
    base = {"grammar": grammar, "details": True, "top_n_tokens": 2, "adapter_id": "local"}
    plain = [engine.generate(p, Parameters(**base)) for p, _ in prompts]
    before = dict(engine.stats)
    # each with its candidates, plus the plain answer for half of them: both paths are taken
    hinted_params = [
        Parameters(**base, candidates=candidate_answers(c) + ([g.text] if i % 2 else []))
        for i, ((_, c), g) in enumerate(zip(prompts, plain, strict=True))
    ]
    futures = [engine.submit(p, params) for (p, _), params in zip(prompts, hinted_params, strict=True)]
    hinted = [f.result() for f in futures]  # submitted together: verified in batches
    for a, b in zip(plain, hinted, strict=True):
        assert b.text == a.text and [t.id for t in b.tokens] == [t.id for t in a.tokens]
        assert b.finish_reason == a.finish_reason
        for x, y in zip(a.tokens, b.tokens, strict=True):
            assert abs(x.logprob - y.logprob) < 1e-4
        assert [[t.id for t in top] for top in b.top_tokens] == [[t.id for t in top] for top in a.top_tokens]
    verified = engine.stats["verified"] - before["verified"]
    missed = engine.stats["verify_missed"] - before["verify_missed"]
    rounds = engine.stats["verify_rounds"] - before["verify_rounds"]
    assert verified + missed == len(prompts) and verified > 0
    # fewer passes than plain decoding took (one per chosen token after the prompt's)
    assert rounds < sum(sum(t.logprob != 0.0 for t in g.tokens) for g in plain)


def test_candidates_are_validated_and_ignored_where_they_cannot_apply(server):
    """More than MAX_CANDIDATES is TGI's 422; a sampled or streamed request decodes as usual."""
    from llama_mapper.serving.engine import MAX_CANDIDATES, Parameters

    too_many = {"inputs": "a", "parameters": {"candidates": ["x"] * (MAX_CANDIDATES + 1)}}
    answer = httpx.post(f"{server.url}/generate", json=too_many, timeout=60)
    assert answer.status_code == 422 and "candidates" in answer.json()["error"]
    before = dict(server.engine.stats)
    body = {
        "inputs": "a",
        "parameters": {"candidates": ['["A"]'], "do_sample": True, "seed": 1, "max_new_tokens": 3},
    }
    assert httpx.post(f"{server.url}/generate", json=body, timeout=60).status_code == 200
    streamed: list = []  # tokens already streamed cannot be taken back: streams are decoded
    gen = server.engine.submit(
        "a", Parameters(candidates=['["A"]'], max_new_tokens=3), on_token=streamed.append
    ).result()
    assert [t.id for t in streamed] == [t.id for t in gen.tokens]
    assert server.engine.stats["verified"] == before["verified"]
    assert server.engine.stats["verify_missed"] == before["verify_missed"]
    assert httpx.get(f"{server.url}/info").json()["answer_candidates"] == MAX_CANDIDATES
