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
