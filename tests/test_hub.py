"""Versioning on the Hub, through the real clients (huggingface_hub, datasets, peft, the hf CLI)
against the local Hub that the suite starts (conftest: HF_ENDPOINT, HUB_TOKEN)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HUB_TOKEN, QUICK, ROOT, free_port, train_ok

from llama_mapper.hub.client import (
    HubError,
    HubRef,
    latest_release,
    parse_version,
    pull,
    resolve,
)
from llama_mapper.hub.release import push_adapter, push_dataset

HF = str(Path(sys.executable).parent / "hf")
CARD = ROOT / "src" / "llama_mapper" / "resources" / "model_cards" / "adapter_card.md"


def files_of(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file, the client's own download metadata left out."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


def perturbed_copy(adapter: Path, dest: Path) -> Path:
    """The same adapter with different LoRA weights (a "next release")."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, dest, ignore=shutil.ignore_patterns("checkpoint-*"))
    weights = load_file(adapter / "adapter_model.safetensors")
    save_file(
        {k: v + 0.05 * torch.randn_like(v) for k, v in weights.items()}, dest / "adapter_model.safetensors"
    )
    return dest


@pytest.fixture(scope="module")
def released(trained, tmp_path_factory):
    """demo/mapper with v0.0.1 (the tiny adapter) and v0.0.2 (perturbed): main has moved on."""
    adapter, _ = trained
    first = push_adapter(adapter, "demo/mapper", "v0.0.1")  # the card template shipped in the package
    second_folder = perturbed_copy(adapter, tmp_path_factory.mktemp("next") / "tiny-lora-next")
    second = push_adapter(second_folder, "demo/mapper", "v0.0.2", CARD)  # a template named by path
    return adapter, first, second, second_folder


def logits(model, tokenizer):
    import torch

    ids = tokenizer("detector: acme\ncategory: hate speech", return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_versions_parse_and_order():
    assert parse_version("v1.2.0") > parse_version("v1.2.0-rc.2") > parse_version("v1.2.0-rc.1")
    assert parse_version("v1.10.0") > parse_version("v1.9.9")
    assert (
        parse_version("1.2.0") is None and parse_version("v1.2") is None and parse_version("v01.2.0") is None
    )
    assert latest_release(["v0.9.0", "v1.0.0-rc.1", "main", "v0.10.0"]) == "v0.10.0"
    assert HubRef.parse("org/name@v1.2.0") == HubRef("org/name", "v1.2.0")
    assert HubRef.parse("org/name").revision is None
    with pytest.raises(HubError, match="not a Hub reference"):
        HubRef.parse("org/name@")


def test_use_hub_repoints_a_process_that_imported_huggingface_hub_already():
    """The demo's local Hub must win over the HF_ENDPOINT huggingface_hub read when first imported."""
    import importlib

    from huggingface_hub import HfApi, constants

    from llama_mapper.hub.client import endpoint_of, use_hub

    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HOME")}
    try:
        use_hub(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME="/nonexistent/hf-home")
        assert HfApi().endpoint == endpoint_of() == "http://127.0.0.1:9"
        assert constants.HF_HUB_CACHE == "/nonexistent/hf-home/hub"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        importlib.reload(constants)
    assert HfApi().endpoint == saved["HF_ENDPOINT"]


def test_the_card_template_ships_in_the_package_and_a_path_may_name_another(tmp_path, monkeypatch):
    from llama_mapper.hub.cards import card_template

    shipped = card_template()
    assert shipped == CARD.read_text(encoding="utf-8") and "{{ model_name }}" in shipped
    monkeypatch.chdir(tmp_path)  # no repository around: the package still has it
    assert card_template("model_cards/adapter_card.md") == shipped  # the former default path
    own = tmp_path / "model_cards" / "adapter_card.md"
    own.parent.mkdir()
    own.write_text("# {{ model_name }}\n", encoding="utf-8")
    assert card_template("model_cards/adapter_card.md") == "# {{ model_name }}\n"  # a file wins
    for missing in ("card.md", tmp_path / "none.md", "model_cards/none.md"):
        with pytest.raises(FileNotFoundError, match="not found"):
            card_template(missing)


@pytest.mark.slow
def test_adapter_release_downloads_identically_by_tag_with_the_cli(released, tmp_path):
    adapter, first, second, _ = released
    assert first.sha != second.sha and first.revision == "v0.0.1"
    dest = tmp_path / "checkpoints" / "mapper@v0.0.1"
    done = subprocess.run(
        [HF, "download", "demo/mapper", "--revision", "v0.0.1", "--local-dir", str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got, sent = files_of(dest), files_of(adapter)
    assert set(got) - {".gitattributes"} == {p for p in sent if not p.startswith("checkpoint-")}
    assert all(got[p] == sent[p] for p in got if p not in (".gitattributes", "README.md"))
    assert "hf download demo/mapper --revision v0.0.1" in got["README.md"].decode()  # the release's card
    # A folder made by `hf download` is accepted everywhere, and knows its commit.
    from llama_mapper.hub.checkpoints import CheckpointManager

    meta = CheckpointManager(dest.parent).metadata("mapper@v0.0.1")
    assert meta["hub"]["sha"] == first.sha and meta["name"] == "mapper@v0.0.1"


@pytest.mark.slow
def test_peft_at_a_tag_gives_the_pushed_adapters_logits_while_main_moved_on(released):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llama_mapper.models.base_model import resolve_base_model

    adapter, first, _, second_folder = released
    base_path = resolve_base_model("tiny-random-llama").path
    tokenizer = AutoTokenizer.from_pretrained(adapter)

    def peft(source, **kwargs):
        base = AutoModelForCausalLM.from_pretrained(base_path)
        return logits(PeftModel.from_pretrained(base, source, **kwargs).eval(), tokenizer)

    at_tag = peft("demo/mapper", revision="v0.0.1")
    assert torch.equal(at_tag, peft(str(adapter)))
    on_main = peft("demo/mapper")
    assert torch.equal(on_main, peft(str(second_folder)))
    assert not torch.allclose(at_tag, on_main)


@pytest.mark.slow
def test_checkpoint_manager_loads_hub_references_and_records_the_sha(released):
    import torch

    from llama_mapper.hub.checkpoints import CheckpointManager

    adapter, first, second, _ = released
    manager = CheckpointManager("does-not-exist")
    model, tokenizer, meta = manager.load_checkpoint("demo/mapper@v0.0.1")
    assert meta["hub"]["sha"] == first.sha and meta["name"] == "demo/mapper@v0.0.1"
    assert meta["base_model"]["model_id"] == "tiny-random-llama"
    from llama_mapper.mapping.candidates import retriever_path

    assert retriever_path(meta["path"]) is not None  # the fine-tuned retriever travels with the adapter
    local_model, _, _ = CheckpointManager(adapter.parent).load_checkpoint(adapter.name)
    assert torch.equal(logits(model, tokenizer), logits(local_model, tokenizer))
    latest = manager.metadata("demo/mapper")  # no @: the latest release, not main
    assert latest["hub"]["revision"] == "v0.0.2" and latest["hub"]["sha"] == second.sha
    assert manager.metadata(f"demo/mapper@{first.sha}")["hub"]["sha"] == first.sha


@pytest.mark.slow
def test_release_tags_are_immutable_and_refusals_change_nothing(released, tmp_path):
    from huggingface_hub import HfApi

    adapter, first, second, _ = released
    api = HfApi()
    before = (api.list_repo_refs("demo/mapper"), len(api.list_repo_commits("demo/mapper")))
    with pytest.raises(
        HubError, match=r"v0.0.1 already exists \(commit [0-9a-f]{12}\).*immutable.*latest is v0.0.2"
    ):
        push_adapter(adapter, "demo/mapper", "v0.0.1")
    with pytest.raises(HubError, match="older than the latest release v0.0.2"):
        push_adapter(adapter, "demo/mapper", "v0.0.1-rc.1")
    with pytest.raises(HubError, match="not semver"):
        push_adapter(adapter, "demo/mapper", "1.0")
    (tmp_path / "not-an-adapter").mkdir()
    (tmp_path / "not-an-adapter" / "weights.bin").write_bytes(b"x")
    with pytest.raises(HubError, match="not a Llama Mapper adapter: missing adapter_config.json"):
        push_adapter(tmp_path / "not-an-adapter", "demo/mapper", "v9.0.0")
    assert (api.list_repo_refs("demo/mapper"), len(api.list_repo_commits("demo/mapper"))) == before
    assert resolve("demo/mapper@v0.0.1").sha == first.sha


@pytest.mark.slow
def test_push_script_and_make_push_then_hf_download(trained, tmp_path):
    """The issue's acceptance: make push, hf download at the tag, the same files; a second push fails."""
    adapter, _ = trained
    make = [
        "make",
        "-s",
        "push",
        f"PYTHON={sys.executable}",
        f"CHECKPOINT={adapter}",
        "REPO=demo/acceptance",
        "VERSION=v0.0.1",
    ]
    done = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    released = json.loads(done.stdout.strip().splitlines()[-1])
    assert released["released"] == "demo/acceptance@v0.0.1"
    dest = tmp_path / "X"
    subprocess.run(
        [HF, "download", "demo/acceptance", "--revision", "v0.0.1", "--local-dir", str(dest)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    got, sent = files_of(dest), files_of(adapter)
    assert all(got[p] == sent[p] for p in sent if not p.startswith("checkpoint-") and p != "README.md")
    again = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0
    assert "v0.0.1 already exists" in again.stderr and "Traceback" not in again.stderr
    versions = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "versions.py"), "--repo", "demo/acceptance"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.splitlines()[1].startswith("v0.0.1") and released["sha"][:12] in versions.stdout
    assert "test_exact_match" in versions.stdout.splitlines()[0]


@pytest.mark.slow
def test_dataset_release_loads_by_tag_and_training_records_its_commit(tiny_dataset, tmp_path):
    from datasets import load_dataset

    from llama_mapper.data.io import load_splits

    first = push_dataset(tiny_dataset, "demo/mapper-data", "v1.0.0")
    loaded = load_dataset("demo/mapper-data", revision="v1.0.0")
    local = load_splits(tiny_dataset)
    assert sorted(loaded) == ["test", "train", "validation"]
    assert loaded["train"]["id"] == local["train"]["id"]
    # A later release changes main; the tag still gives v1.0.0's rows.
    from llama_mapper.data import TrainingDataGenerator, save_dataset

    generator = TrainingDataGenerator(seed=6, with_candidates=False)
    changed = save_dataset(
        generator.generate_dataset(size=8, eval_size=8), tmp_path / "next", generator.metadata(8, 8)
    )
    push_dataset(changed, "demo/mapper-data", "v1.1.0")
    assert len(load_dataset("demo/mapper-data", revision="v1.0.0")["train"]) == len(local["train"])
    assert len(load_dataset("demo/mapper-data", revision="v1.1.0")["train"]) == 8
    out = tmp_path / "from-hub"
    train_ok("demo/mapper-data@v1.0.0", out, *QUICK, "--retriever_epochs", "1")
    meta = json.loads((out / "llama_mapper.json").read_text())
    generation = json.loads((tiny_dataset / "generation.json").read_text())  # fetched from the release
    assert meta["dataset"] == {
        "source": "hub",
        "repo": "demo/mapper-data",
        "revision": "v1.0.0",
        "sha": first.sha,
        "generation": generation,
    }
    assert meta["retriever"]["pairs"] > 0 and (out / "retriever" / "retriever.json").is_file()
    assert f"commit `{first.sha}`" in (out / "README.md").read_text()
    with pytest.raises(HubError, match="not a generated dataset"):
        push_dataset(tmp_path, "demo/mapper-data", "v2.0.0")


@pytest.mark.slow
def test_model_card_yaml_parses_and_carries_the_lineage(released):
    from huggingface_hub import ModelCard, hf_hub_download

    _, first, _, _ = released
    card = ModelCard.load(hf_hub_download("demo/mapper", "README.md", revision="v0.0.1"))
    data = card.data.to_dict()
    assert data["library_name"] == "peft" and "base_model" not in data  # tiny random: no Hub base
    assert data["model-index"][0]["name"] == "demo/mapper"
    assert data["model-index"][0]["results"][0]["metrics"][0]["type"] == "exact_match"
    lineage = data["llama_mapper"]
    assert (
        lineage["taxonomy"].startswith("taxonomy@")
        and lineage["base_model"]["model_id"] == "tiny-random-llama"
    )
    for text in (
        "hf download demo/mapper --revision v0.0.1",
        'PeftModel.from_pretrained(base, "demo/mapper", revision="v0.0.1")',
        "LORA_ADAPTERS=demo/mapper@v0.0.1",
        "make serve ADAPTER=demo/mapper@v0.0.1",
        "recipe.yaml",
    ):
        assert text in card.text, text


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("demo/nope@v1.0.0", "repository demo/nope not found on http://127.0.0.1"),
        ("demo/mapper@v7.0.0", r"demo/mapper has no such revision .*Released versions: v0.0.1, v0.0.2"),
        ("demo/empty", "demo/empty has no release tag"),
    ],
)
@pytest.mark.slow
def test_unknown_repo_or_tag_fails_with_what_exists(released, ref, message):
    from huggingface_hub import HfApi

    HfApi().create_repo("demo/empty", exist_ok=True)
    with pytest.raises(HubError, match=message):
        pull(ref)


@pytest.mark.slow
def test_bad_or_missing_token_is_refused_before_anything_is_written(trained, monkeypatch):
    from huggingface_hub import HfApi

    adapter, _ = trained
    with pytest.raises(HubError, match="rejected the token"):
        push_adapter(adapter, "demo/tokens", "v1.0.0", api=HfApi(token="hf_wrong"))
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="no Hub token: set HF_TOKEN"):
        push_adapter(adapter, "demo/tokens", "v1.0.0")
    with pytest.raises(HubError, match="not found"):
        resolve("demo/tokens@v1.0.0")


@pytest.mark.slow
def test_unreachable_hub_names_the_offline_ways_out(trained):
    from huggingface_hub import HfApi

    adapter, _ = trained
    down = HfApi(endpoint=f"http://127.0.0.1:{free_port()}", token=HUB_TOKEN)
    with pytest.raises(HubError, match="cannot reach the Hub at .*HF_HUB_OFFLINE=1.*make hub"):
        push_adapter(adapter, "demo/down", "v1.0.0", api=down)
    with pytest.raises(HubError, match="cannot reach the Hub"):
        resolve("demo/mapper@v0.0.1", api=down)


@pytest.mark.parametrize("fault", ["commit", "tag"])
@pytest.mark.slow
def test_interrupted_upload_leaves_no_release_and_a_rerun_finishes_it(trained, tmp_path, fault):
    """The connection breaks during the commit (nothing recorded) or before the tag (main moved,
    untagged): no version exists, and running the same push again releases it once."""
    from huggingface_hub import HfApi

    from llama_mapper.hub.local_server import LocalHub

    adapter, _ = trained
    with LocalHub(tmp_path / "hub", tokens=[HUB_TOKEN]) as hub:
        api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
        hub.server.faults[fault] = True
        with pytest.raises(HubError, match="broke off.*Run the same command again"):
            push_adapter(adapter, "demo/flaky", "v1.0.0", api=api)
        assert api.list_repo_refs("demo/flaky").tags == []
        files = api.list_repo_files("demo/flaky")
        assert ("adapter_model.safetensors" in files) == (fault == "tag")
        done = push_adapter(adapter, "demo/flaky", "v1.0.0", api=api)
        refs = api.list_repo_refs("demo/flaky")
        assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0.0", done.sha)]
        assert len(api.list_repo_commits("demo/flaky")) == 2  # the initial commit and one release


@pytest.mark.slow
def test_offline_mode_resolves_tags_from_the_cache(released):
    """HF_HUB_OFFLINE=1 in a fresh process: the tags pulled before resolve without the Hub."""
    from huggingface_hub import HfApi

    _, first, second, _ = released
    HfApi().create_branch("demo/mapper", branch="never-pulled", exist_ok=True)
    pull("demo/mapper@v0.0.1")
    pull("demo/mapper")
    code = (
        "from llama_mapper.hub.client import pull, HubError\n"
        "print(pull('demo/mapper@v0.0.1').sha, pull('demo/mapper').revision)\n"
        "try:\n    pull('demo/mapper@never-pulled')\nexcept HubError as err:\n    print('refused:', err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{first.sha} v0.0.2"
    assert lines[1].startswith("refused: HF_HUB_OFFLINE=1 and demo/mapper@never-pulled is not in the cache")
