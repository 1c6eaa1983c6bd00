"""Device and precision resolution: CPU feature detection, auto choices, errors, describe(), casting."""

import platform

import pytest
import torch

from engine import device as dev
from engine.device import Runtime, cpu_precisions, read_cpu_flags, resolve_runtime
from engine.errors import InputError


@pytest.mark.parametrize(
    ("machine", "capability", "flags", "expected"),
    [
        ("x86_64", "AVX512", {"avx512f", "avx512_bf16"}, {"fp32", "bf16"}),
        ("x86_64", "AVX512", {"amx_bf16", "amx_fp16", "amx_tile"}, {"fp32", "bf16", "fp16"}),
        ("AMD64", "AVX512", {"AVX512_BF16"}, {"fp32", "bf16"}),
        ("x86_64", "AVX2", {"avx512_bf16"}, {"fp32"}),  # torch does not dispatch to AVX512 kernels
        ("x86_64", "AVX512", {"avx512f", "avx2"}, {"fp32"}),
        ("aarch64", "DEFAULT", {"fp", "asimd", "bf16", "asimdhp"}, {"fp32", "bf16", "fp16"}),
        ("arm64", "SVE256", {"fp", "asimd"}, {"fp32"}),
        ("ppc64le", "VSX", {"bf16"}, {"fp32"}),
    ],
)
def test_cpu_precisions(machine, capability, flags, expected):
    assert cpu_precisions(machine, capability, flags) == frozenset(expected)


def test_read_cpu_flags_x86_and_arm_and_missing(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd bf16\nCPU part\t: 0xd40\n")
    assert read_cpu_flags(x86) == {"fpu", "avx512f", "avx512_bf16"}
    assert read_cpu_flags(arm) == {"fp", "asimd", "bf16"}
    assert read_cpu_flags(tmp_path / "absent") == frozenset()


def _fake_cpu(monkeypatch, machine: str, capability: str, flags: set[str]) -> None:
    """Pretend to be a CPU-only machine with the given CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(dev, "read_cpu_flags", lambda: frozenset(flags))


def _fake_cuda(monkeypatch, name: str, major: int) -> None:
    """Pretend to have one CUDA GPU of the given compute capability."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)


def test_auto_on_bf16_cpu_picks_bf16(monkeypatch):
    _fake_cpu(monkeypatch, "x86_64", "AVX512", {"avx512_bf16"})
    runtime = resolve_runtime()
    assert runtime == Runtime(torch.device("cpu"), torch.bfloat16)
    threads = torch.get_num_threads()
    assert runtime.describe() == f"CPU, {threads} thread{'s' if threads != 1 else ''}, bf16"


def test_auto_on_plain_cpu_picks_fp32_and_rejects_reduced_precisions(monkeypatch):
    _fake_cpu(monkeypatch, "x86_64", "AVX2", {"avx2"})
    assert resolve_runtime("auto", "auto").dtype == torch.float32
    assert resolve_runtime("cpu", "fp32").dtype == torch.float32
    with pytest.raises(InputError, match=r"precision bf16 is not supported on this CPU; choose one of: fp32"):
        resolve_runtime("cpu", "bf16")
    with pytest.raises(InputError, match="precision fp16 is not supported on this CPU"):
        resolve_runtime("cpu", "fp16")


def test_describe_uses_thread_count(monkeypatch):
    _fake_cpu(monkeypatch, "x86_64", "AVX2", set())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert dev.cpu_threads() == 2
    assert resolve_runtime("cpu").describe() == "CPU, 2 threads, fp32"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert resolve_runtime("cpu").describe() == "CPU, 1 thread, fp32"


def test_auto_prefers_cuda_with_bf16_on_ampere_and_later(monkeypatch):
    _fake_cuda(monkeypatch, "NVIDIA H100", 9)
    runtime = resolve_runtime()
    assert runtime == Runtime(torch.device("cuda", 0), torch.bfloat16)
    assert runtime.describe() == "CUDA: NVIDIA H100, bf16"
    assert resolve_runtime("cuda", "fp16").dtype == torch.float16


def test_auto_on_older_cuda_picks_fp16_and_rejects_bf16(monkeypatch):
    _fake_cuda(monkeypatch, "Tesla T4", 7)
    assert resolve_runtime("cuda:0").dtype == torch.float16
    with pytest.raises(InputError, match="precision bf16 is not supported on this CUDA"):
        resolve_runtime("cuda", "bf16")


def test_auto_picks_mps_in_fp32_when_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    runtime = resolve_runtime()
    assert runtime == Runtime(torch.device("mps"), torch.float32)
    assert runtime.describe() == "MPS, fp32"


def test_unavailable_and_unknown_devices_and_precisions(monkeypatch):
    _fake_cpu(monkeypatch, "x86_64", "AVX2", set())
    with pytest.raises(InputError, match="device 'cuda' is not available"):
        resolve_runtime("cuda")
    with pytest.raises(InputError, match="device 'mps' is not available"):
        resolve_runtime("mps")
    for bad in ("tpu", "cuda:x", "cpu:1", ""):
        with pytest.raises(InputError, match="unknown device"):
            resolve_runtime(bad)
    with pytest.raises(InputError, match=r"unknown precision 'int8'; choose one of: auto, fp32, bf16, fp16"):
        resolve_runtime("cpu", "int8")


def test_cuda_index_beyond_device_count(monkeypatch):
    _fake_cuda(monkeypatch, "NVIDIA H100", 9)
    with pytest.raises(InputError, match=r"device 'cuda:1' is not available \(1 CUDA device found\)"):
        resolve_runtime("cuda:1")


def test_prepare_casts_weights_and_cast_casts_inputs():
    runtime = Runtime(torch.device("cpu"), torch.bfloat16)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)).train()
    prepared = runtime.prepare(module)
    assert prepared is module
    assert not module.training
    assert all(p.dtype == torch.bfloat16 for p in module.parameters())
    x = runtime.cast(torch.ones(2, 4, dtype=torch.float64))
    assert x.dtype == torch.bfloat16
    assert runtime.precision == "bf16"
    assert module(x).dtype == torch.bfloat16
