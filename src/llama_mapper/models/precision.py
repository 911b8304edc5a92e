"""Which precision a run may use on this machine: bf16 where the hardware runs it natively (AMX or
AVX512-BF16 CPUs, recent GPUs), fp16 on older GPUs, fp32 elsewhere."""

from __future__ import annotations

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


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
