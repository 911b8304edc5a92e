"""Which precision a run may use on this machine: bf16 where the hardware runs it natively (AMX or
AVX512-BF16 CPUs, recent GPUs), fp16 on older GPUs, fp32 elsewhere."""

from __future__ import annotations

import os
import platform
from pathlib import Path

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# The CPU features that change training and serving speed most, as /proc/cpuinfo names them.
CPU_FEATURES = {"AMX": "amx_tile", "AVX-512 bf16": "avx512_bf16", "AVX-512": "avx512f"}


def cpu_info(cpuinfo: str | None = None) -> dict[str, object]:
    """This machine's CPU model, core count and speed-relevant features (``CPU_FEATURES``), for
    every timing we print or record (``cpuinfo``: the text of /proc/cpuinfo; read when None)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():  # the first processor's lines
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "model": fields.get("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "features": {name: flag in flags for name, flag in CPU_FEATURES.items()},
    }


def describe_cpu(info: dict[str, object] | None = None) -> str:
    """``"AMD EPYC, 2 cores; AMX no, AVX-512 bf16 no, AVX-512 no"``."""
    info = info or cpu_info()
    features = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in info["features"].items())  # type: ignore[union-attr]
    return f"{info['model']}, {info['cores']} cores; {features}"


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose oneDNN kernels run bf16 natively (AMX or AVX512-BF16)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(requested: str = "auto", use_cpu: bool = False) -> str:
    """The precision to train in: never one the hardware cannot run."""
    import torch

    cuda = torch.cuda.is_available() and not use_cpu
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if requested == "fp16" and not cuda:
        raise ValueError("fp16 mixed precision needs a GPU; use precision: auto or fp32 on a CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no bf16 (e.g. a T4): use precision: auto or fp16")
    return requested


def torch_dtype_for(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
