#!/usr/bin/env python
"""Load test of POST /map: mixed rules and model traffic from many clients for a fixed time, against
a server started here on 127.0.0.1 (and stopped at the end).

Usage:
    python bench/load_test.py [--adapter outputs/smollm2-135m-lora-cpu] [--clients 64] [--seconds 60]

Half the requests are catalog detectors' outputs (the hybrid route answers them by the rules), half
are unfamiliar detectors' with a category spelling not sent before (the model answers), spread over
`--tenants` tenant ids. Each of the clients sends one request at a time, as
fast as answers come, for `--seconds`; a 429 is retried after its Retry-After (and counted). Reported:
answered requests per second, p50/p95/p99 latency by kind, the 429 rate, lost requests (a transport
error, a timeout or a 5xx: must be 0) and the server's memory high-water mark (VmHWM), sampled with
its resident memory every second to show that memory stays bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src/llama_mapper/resources/samples/detector_outputs.jsonl"
UNFAMILIAR = [  # {n}: a number that makes each category spelling new
    '{"detector": "acme-guard", "output": {"flagged": true, "labels": ["customer e-mail address {n}"]}}',
    '{"detector": "zeta-moderation", "output": {"results": [{"category": "threatening language {n}", "score": 0.91}]}}',
    '{"detector": "nova-dlp", "output": {"findings": [{"infoType": "employee badge number {n}", "likelihood": "LIKELY"}]}}',
    '{"detector": "orbit-shield", "output": {"verdict": "block", "reasons": ["prompt override attempt {n}"]}}',
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", default="outputs/smollm2-135m-lora-cpu")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="a request unanswered after this is lost"
    )
    parser.add_argument(
        "--tenants",
        type=int,
        default=8,
        help="clients take turns over this many tenant ids (16 in flight each)",
    )
    parser.add_argument("--json", default=None, help="also write the figures here")
    return parser.parse_args(argv)


def catalog_requests() -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [{"detector": r["detector"], "output": r["output"]} for r in rows]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


def start_server(adapter: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts/serve.py"),
            "--adapter",
            adapter,
            "--map",
            "hybrid",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:  # "serving ..." once every route answers
        if line.startswith("serving "):
            return proc, f"http://127.0.0.1:{port}"
    raise RuntimeError(f"the server did not start (exit {proc.wait()})")


def unfamiliar(rng: random.Random) -> dict:
    """An unfamiliar detector's output with a category spelling not seen before (so that the model
    answers it, not the client's cache)."""
    return json.loads(rng.choice(UNFAMILIAR).replace("{n}", str(rng.randrange(10**6))))


async def client(
    http: httpx.AsyncClient, url: str, stop: float, pool: list[dict], seen: dict, index: int, tenants: int
) -> None:
    rng = random.Random(index)
    while time.monotonic() < stop:
        kind = rng.choice(("rules", "model"))
        body = rng.choice(pool) if kind == "rules" else unfamiliar(rng)
        body = {**body, "tenant_id": f"tenant-{index % tenants}"}
        started = time.monotonic()
        try:
            answer = await http.post(f"{url}/map", json=body)
        except httpx.HTTPError:
            seen["lost"] += 1
            continue
        if answer.status_code == 429:
            seen["429"] += 1
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
            continue
        if answer.status_code != 200:
            seen["lost"] += 1
            seen["statuses"][answer.status_code] = seen["statuses"].get(answer.status_code, 0) + 1
            continue
        seen["latency"][kind].append((time.monotonic() - started) * 1000)


async def sample_memory(pid: int, stop: float, samples: list[dict]) -> None:
    while time.monotonic() < stop:
        samples.append(memory_kb(pid))
        await asyncio.sleep(1)


async def load(url: str, pid: int, clients: int, seconds: float, timeout: float, tenants: int) -> dict:
    pool = catalog_requests()
    seen: dict = {"latency": {"rules": [], "model": []}, "429": 0, "lost": 0, "statuses": {}}
    samples: list[dict] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        await http.post(f"{url}/map", json=unfamiliar(random.Random(0)))  # warm
        stop = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(
            sample_memory(pid, stop, samples),
            *(client(http, url, stop, pool, seen, i, tenants) for i in range(clients)),
        )
        elapsed = time.monotonic() - started
    answered = sum(len(v) for v in seen["latency"].values())
    sent = answered + seen["429"] + seen["lost"]
    return {
        "clients": clients,
        "tenants": tenants,
        "seconds": round(elapsed, 1),
        "answered": answered,
        "requests_per_s": round(answered / elapsed, 2),
        "rate_429": round(seen["429"] / sent, 4) if sent else 0.0,
        "lost": seen["lost"],
        "lost_statuses": seen["statuses"],
        **{
            f"{kind}_{name}_ms": round(pct(values, q), 1)
            for kind, values in seen["latency"].items()
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
        "answered_rules": len(seen["latency"]["rules"]),
        "answered_model": len(seen["latency"]["model"]),
        "memory_high_water_mib": round(memory_kb(pid)["VmHWM"] / 1024, 1),
        "rss_first_mib": round(samples[0]["VmRSS"] / 1024, 1) if samples else None,
        "rss_last_mib": round(samples[-1]["VmRSS"] / 1024, 1) if samples else None,
        # resident memory at each tenth of the run: flat in the second half means bounded
        "rss_deciles_mib": [
            round(samples[min(len(samples) - 1, len(samples) * i // 10)]["VmRSS"] / 1024)
            for i in range(1, 11)
        ]
        if samples
        else [],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    proc, url = start_server(args.adapter)
    try:
        print(f"load: {args.clients} clients for {args.seconds:.0f} s against {url}/map", flush=True)
        figures = asyncio.run(load(url, proc.pid, args.clients, args.seconds, args.timeout, args.tenants))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    from llama_mapper.models.precision import cpu_info, describe_cpu

    figures["cpu"], figures["cores"] = describe_cpu(), cpu_info()["cores"]
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
