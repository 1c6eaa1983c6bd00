"""Where and in which floating-point precision the models run.

:func:`resolve_runtime` turns the user's ``--device`` / ``--precision`` choice into a :class:`Runtime`
(a torch device and a compute dtype). ``auto`` picks CUDA, then Apple's MPS, then the CPU, and the fastest
precision that the hardware does natively: bf16 on CUDA that has it (else fp16), fp32 on MPS, bf16 on CPUs
with bf16 instructions (x86 AVX512-BF16 or AMX, Arm BF16), fp32 elsewhere.

How a model runs in reduced precision: :meth:`Runtime.prepare` casts the module's WEIGHTS to the runtime dtype
(and inputs are cast with :meth:`Runtime.cast`); there is no autocast. Both reference implementations run
CLIP with fp16 weights, and on CPU bf16 weights were measured fastest while matching fp32 to a cosine of
0.99995 (docs/design.md); one rule for every device keeps results reproducible across devices.

torch is imported inside the functions, so importing this module stays cheap (the command line uses
:data:`DEVICE_CHOICES` and :data:`PRECISION_CHOICES`).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import InputError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")

# precision name -> attribute of the torch module holding the dtype
_DTYPE_NAMES: dict[str, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

# /proc/cpuinfo flags that mean native bf16 / fp16 arithmetic, per CPU family
_CPU_BF16_FLAGS: dict[str, frozenset[str]] = {
    "x86": frozenset({"avx512_bf16", "amx_bf16"}),
    "arm": frozenset({"bf16"}),
}
_CPU_FP16_FLAGS: dict[str, frozenset[str]] = {
    "x86": frozenset({"avx512_fp16", "amx_fp16"}),
    "arm": frozenset({"asimdhp"}),
}
_MACHINE_FAMILIES: dict[str, str] = {
    "x86_64": "x86",
    "amd64": "x86",
    "i686": "x86",
    "aarch64": "arm",
    "arm64": "arm",
}

ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")


@dataclass(frozen=True)
class Runtime:
    """A torch device and the compute dtype that models run in on it."""

    device: torch.device
    dtype: torch.dtype

    @property
    def precision(self) -> str:
        """The precision's short name: ``fp32``, ``bf16`` or ``fp16``."""
        return _precision_name(self.dtype)

    def describe(self) -> str:
        """A plain one-line description, e.g. ``CPU, 2 threads, bf16`` or ``CUDA: NVIDIA H100, bf16``."""
        import torch

        if self.device.type == "cuda":
            return f"CUDA: {torch.cuda.get_device_name(self.device)}, {self.precision}"
        if self.device.type == "mps":
            return f"MPS, {self.precision}"
        threads = cpu_threads()
        return f"CPU, {threads} thread{'s' if threads != 1 else ''}, {self.precision}"

    def prepare(self, module: ModuleT) -> ModuleT:
        """Move ``module`` to the device, cast its floating-point weights to the dtype, set eval mode."""
        return module.to(device=self.device, dtype=self.dtype).eval()

    def cast(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the device in the runtime dtype (an input for a :meth:`prepare`-d module)."""
        return tensor.to(device=self.device, dtype=self.dtype)


def cpu_threads() -> int:
    """The number of threads torch uses for CPU operators (intra-op parallelism)."""
    import torch

    return torch.get_num_threads()


def read_cpu_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags of the first processor in ``/proc/cpuinfo`` (x86 ``flags``, Arm ``Features``).

    Empty where the file does not exist (macOS, Windows) or has no such line.
    """
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def cpu_precisions(machine: str, capability: str, flags: Iterable[str]) -> frozenset[str]:
    """Precisions that a CPU computes natively: always ``fp32``, plus ``bf16``/``fp16`` by instruction set.

    ``machine`` is :func:`platform.machine`, ``capability`` is
    ``torch.backends.cpu.get_cpu_capability()`` (the kernels torch dispatches to) and ``flags`` the CPU
    feature flags. On x86 the reduced precisions need torch's AVX512 kernels and the matching flags
    (``avx512_bf16``/``amx_bf16``, ``avx512_fp16``/``amx_fp16``); on Arm the ``bf16``/``asimdhp`` features.
    """
    family = _MACHINE_FAMILIES.get(machine.lower())
    found = {"fp32"}
    if family is None or (family == "x86" and not capability.upper().startswith("AVX512")):
        return frozenset(found)
    flag_set = frozenset(flag.lower() for flag in flags)
    if flag_set & _CPU_BF16_FLAGS[family]:
        found.add("bf16")
    if flag_set & _CPU_FP16_FLAGS[family]:
        found.add("fp16")
    return frozenset(found)


def supported_precisions(device: torch.device) -> frozenset[str]:
    """Precisions that ``device`` computes natively.

    CUDA: fp32 and fp16, bf16 from compute capability 8 (Ampere) on; MPS: fp32 and fp16, bf16 where the
    installed macOS/torch accept it; CPUs: see :func:`cpu_precisions`.
    """
    import torch

    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return frozenset({"fp32", "fp16", "bf16"} if major >= 8 else {"fp32", "fp16"})
    if device.type == "mps":
        found = {"fp32", "fp16"}
        try:
            torch.zeros(1, dtype=torch.bfloat16, device=device)
        except (RuntimeError, TypeError):
            return frozenset(found)
        found.add("bf16")
        return frozenset(found)
    return cpu_precisions(platform.machine(), torch.backends.cpu.get_cpu_capability(), read_cpu_flags())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device named ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; :class:`InputError` else."""
    import torch

    kind, _, index = name.strip().lower().partition(":")
    if kind not in DEVICE_CHOICES or (index and (kind != "cuda" or not index.isdigit())):
        raise InputError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    mps_available = torch.backends.mps.is_available()
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        return torch.device("mps" if mps_available else "cpu")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        number = int(index or 0)
        if number >= count:
            found = f"{count} CUDA device{'s' if count != 1 else ''}" if count else "no CUDA device"
            found += " found"
            raise InputError(f"device {name!r} is not available ({found}); use --device cpu or auto")
        return torch.device("cuda", number)
    if kind == "mps" and not mps_available:
        raise InputError("device 'mps' is not available (no Apple GPU found); use --device cpu or auto")
    return torch.device(kind)


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """The :class:`Runtime` for the user's device and precision choice.

    ``precision="auto"`` picks bf16 on CUDA that supports it (else fp16), fp32 on MPS and bf16 on CPUs with
    native bf16 (else fp32). An explicit reduced precision that the device cannot compute natively, an
    unavailable device or an unknown name raises :class:`InputError`.
    """
    import torch

    name = precision.strip().lower()
    if name not in PRECISION_CHOICES:
        raise InputError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISION_CHOICES)}")
    torch_device = resolve_device(device)
    supported = supported_precisions(torch_device)
    if name == "auto":
        name = _auto_precision(torch_device.type, supported)
    elif name not in supported:
        where = torch_device.type.upper()
        raise InputError(
            f"precision {name} is not supported on this {where}; "
            f"choose one of: {', '.join(sorted(supported))} (or auto)"
        )
    return Runtime(torch_device, getattr(torch, _DTYPE_NAMES[name]))


def _auto_precision(device_type: str, supported: frozenset[str]) -> str:
    """The automatic precision for a device type given what it supports."""
    if device_type == "cuda":
        return "bf16" if "bf16" in supported else "fp16"
    if device_type == "cpu" and "bf16" in supported:
        return "bf16"
    return "fp32"


def _precision_name(dtype: torch.dtype) -> str:
    """The short name of a floating-point dtype (``torch.bfloat16`` -> ``bf16``)."""
    text = str(dtype).removeprefix("torch.")
    for short, long in _DTYPE_NAMES.items():
        if long == text:
            return short
    raise ValueError(f"not a compute dtype: {dtype}")
