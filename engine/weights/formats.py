"""Reading each real checkpoint format without running pickled code, converted into the builders' layouts.

- OpenAI CLIP ``*.pt`` files are TorchScript archives (a zip holding ``data.pkl``, ``data/<n>`` tensor
  blobs and ``code/``). ``torch.jit.load`` is deprecated in this torch (2.15 warns that it will go), and it
  compiles the archive's TorchScript code; instead :func:`read_torchscript_tensors` unpickles ``data.pkl``
  with a restricted unpickler that only ever builds tensors (every ``__torch__`` class becomes an inert
  attribute holder, any other global is refused) and takes the parameter and buffer names from the
  ``__parameters__`` / ``__buffers__`` declarations of ``code/``, which it reads as text and never runs.
  The result is exactly ``torch.jit.load(path).state_dict()``. OpenAI's key names are open_clip's.
- Every other ``*.pth`` / ``*.ckpt`` goes through ``torch.load(weights_only=True)``; ``*.safetensors``
  files of any of the layouts are read with safetensors.
- DINO, DINOv2 and SAM are converted by timm's own ``checkpoint_filter_fn`` against a shape-only (meta
  device) instance of the target timm model; SimFeatUp's Lightning checkpoints lose their ``upsampler.``
  prefix. Floating tensors come out as float32.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DependencyError, WeightsError
from .registry import FORMAT_DINO, FORMAT_DINOV2, FORMAT_OPENAI_CLIP, FORMAT_SAM, FORMAT_SIMFEATUP

if TYPE_CHECKING:
    import torch

StateDict = dict[str, "torch.Tensor"]

# attributes of OpenAI's TorchScript CLIP that are not model parameters
OPENAI_NON_PARAMETERS = ("input_resolution", "context_length", "vocab_size")
# nesting keys of DINO v1 training checkpoints, in order of preference
DINO_NESTING = ("teacher", "student", "model", "state_dict")
DINO_PREFIXES = ("module.", "backbone.")
SIMFEATUP_PREFIX = "upsampler."

_STORAGE_DTYPES = {
    "HalfStorage": "float16",
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
_TS_LIST_BUILDERS = ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist")
_CLASS_RE = re.compile(r"^class (\w+)\(Module\):\n((?:[ \t]+.*\n?)*)", re.MULTILINE)
_MEMBERS_RE = re.compile(r"^\s+__(parameters|buffers)__ = \[(.*)\]\s*$", re.MULTILINE)


class _ScriptObject:
    """Stand-in for an instance of a TorchScript class: it only keeps the attribute dict it is given."""

    qualname = ""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.attributes = dict(state)


def _rebuild_tensor(
    storage: torch.Tensor,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    _requires_grad: bool,
    _hooks: object,
    _metadata: object = None,
) -> torch.Tensor:
    """A tensor view on a storage, as ``torch._utils._rebuild_tensor_v2`` describes it."""
    return storage.as_strided(size, stride, offset)


def _restore_type_tag(value: object, _type: str) -> object:
    """TorchScript's typed-container tag: the value itself is all we need."""
    return value


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript archive's ``data.pkl`` into tensors and inert attribute holders."""

    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(io.BytesIO(archive.read(f"{root}data.pkl")))
        self._archive = archive
        self._root = root
        self._classes: dict[str, type[_ScriptObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a pickled global: TorchScript classes, storage dtypes and tensor rebuilding only."""
        import torch

        if module == "__torch__" or module.startswith("__torch__."):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:
                self._classes[qualname] = type(name, (_ScriptObject,), {"qualname": qualname})
            return self._classes[qualname]
        if module == "torch" and name in _STORAGE_DTYPES:
            return getattr(torch, _STORAGE_DTYPES[name])
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in _TS_LIST_BUILDERS:
            return list
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return _restore_type_tag
        raise WeightsError(f"TorchScript archive refers to {module}.{name}; only tensors are accepted")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        """A flat tensor holding one storage blob ``data/<key>`` of the archive."""
        import torch

        kind, dtype, key, _location, numel = pid
        if kind != "storage":
            raise WeightsError(f"TorchScript archive has an unknown record {kind!r}")
        if not numel:
            return torch.empty(0, dtype=dtype)
        blob = bytearray(self._archive.read(f"{self._root}data/{key}"))
        return torch.frombuffer(blob, dtype=dtype, count=numel)


def _declared_members(archive: zipfile.ZipFile, root: str) -> dict[str, tuple[str, ...]]:
    """Parameter and buffer names of every class declared in the archive's ``code/`` (read as text)."""
    members: dict[str, tuple[str, ...]] = {}
    code_root = f"{root}code/"
    for entry in archive.namelist():
        if not (entry.startswith(code_root) and entry.endswith(".py")):
            continue
        module = entry[len(code_root) : -len(".py")].replace("/", ".")
        text = archive.read(entry).decode("utf-8")
        for match in _CLASS_RE.finditer(text):
            names: list[str] = []
            for member in _MEMBERS_RE.finditer(match.group(2)):
                names += re.findall(r'"([^"]+)"', member.group(2))
            members[f"{module}.{match.group(1)}"] = tuple(names)
    return members


def _collect(obj: _ScriptObject, prefix: str, members: Mapping[str, tuple[str, ...]], out: StateDict) -> None:
    """Walk a module tree, putting its declared parameters and buffers into ``out`` under dotted names."""
    import torch

    if obj.qualname not in members:
        raise WeightsError(f"TorchScript archive does not declare the members of {obj.qualname}")
    for name in members[obj.qualname]:
        value = obj.attributes.get(name)
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
    for name, value in obj.attributes.items():
        if isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{name}.", members, out)


def is_torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a TorchScript zip archive (it has ``code/`` beside ``data.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in entry for entry in archive.namelist())


def read_torchscript_tensors(path: Path) -> StateDict:
    """The parameters and buffers of a TorchScript archive, as ``torch.jit.load(path).state_dict()``
    would give them, without compiling or running anything from the archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            roots = [entry[: -len("data.pkl")] for entry in archive.namelist() if entry.endswith("/data.pkl")]
            if len(roots) != 1:
                raise WeightsError(f"{path.name} is not a TorchScript archive (no single data.pkl)")
            members = _declared_members(archive, roots[0])
            top = _ArchiveUnpickler(archive, roots[0]).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError) as exc:
        raise WeightsError(f"cannot read TorchScript archive {path.name}: {exc}") from exc
    if not isinstance(top, _ScriptObject):
        raise WeightsError(f"{path.name} does not hold a TorchScript module")
    out: StateDict = {}
    _collect(top, "", members, out)
    return out


def load_plain(path: Path) -> dict[str, Any]:
    """A plain weights file: ``*.safetensors``, else ``torch.load(weights_only=True)`` (no code runs)."""
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise DependencyError("reading .safetensors files needs the 'safetensors' package") from exc
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:  # safetensors raises its own SafetensorError for any bad file
            raise WeightsError(f"cannot read {path.name} as safetensors: {exc}") from exc
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"cannot read {path.name} as plain weights (pickled code is never run): {first_line}"
        ) from exc
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path.name} holds a {type(loaded).__name__}, not a dictionary of tensors")
    return dict(loaded)


def _float32(state: Mapping[str, Any]) -> StateDict:
    """Tensors only, floating ones cast to float32 (OpenAI's are fp16)."""
    import torch

    return {
        key: value.float() if value.is_floating_point() else value
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
    }


def _timm_reference(architecture: str) -> torch.nn.Module:
    """A shape-only (meta device) timm model, what timm's checkpoint filters read grid sizes from."""
    import timm

    return timm.create_model(architecture, pretrained=False, num_classes=0, device="meta")


def convert_openai_clip(state: Mapping[str, Any], architecture: str) -> StateDict:
    """OpenAI CLIP -> open_clip CLIP: same key names; drop the size attributes, cast to float32."""
    del architecture  # open_clip uses OpenAI's key names for every ViT size
    return _float32({key: value for key, value in state.items() if key not in OPENAI_NON_PARAMETERS})


def convert_dino(state: Mapping[str, Any], architecture: str) -> StateDict:
    """DINO v1 -> timm ViT: unnest ``teacher``/..., strip ``module.``/``backbone.``, drop the DINO head."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    for key in DINO_NESTING:
        if isinstance(state.get(key), Mapping):
            state = state[key]
            break
    flat: dict[str, Any] = {}
    for key, value in state.items():
        for prefix in DINO_PREFIXES:
            key = key.removeprefix(prefix)  # noqa: PLW2901 - progressively stripped
        if not key.startswith("head."):
            flat[key] = value
    return _float32(checkpoint_filter_fn(flat, _timm_reference(architecture)))


def convert_dinov2(state: Mapping[str, Any], architecture: str) -> StateDict:
    """DINOv2 (official keys: register_tokens, mask_token, ls1.gamma) -> timm ViT via timm's filter."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    return _float32(checkpoint_filter_fn(dict(state), _timm_reference(architecture)))


def convert_sam(state: Mapping[str, Any], architecture: str) -> StateDict:
    """Whole SAM model -> timm ``samvit`` image encoder (``image_encoder.`` kept, ``mlp.lin`` -> ``fc``)."""
    from timm.models.vision_transformer_sam import checkpoint_filter_fn

    return _float32(checkpoint_filter_fn(dict(state), _timm_reference(architecture)))


def convert_simfeatup(state: Mapping[str, Any], architecture: str) -> StateDict:
    """SimFeatUp Lightning checkpoint -> upsampler state dict: ``state_dict``, ``upsampler.`` stripped."""
    del architecture  # the upsampler kind does not change the key layout
    inner = state["state_dict"] if isinstance(state.get("state_dict"), Mapping) else state
    if any(key.startswith(SIMFEATUP_PREFIX) for key in inner):
        inner = {k[len(SIMFEATUP_PREFIX) :]: v for k, v in inner.items() if k.startswith(SIMFEATUP_PREFIX)}
    return _float32(inner)


CONVERTERS: dict[str, Callable[[Mapping[str, Any], str], StateDict]] = {
    FORMAT_OPENAI_CLIP: convert_openai_clip,
    FORMAT_DINO: convert_dino,
    FORMAT_DINOV2: convert_dinov2,
    FORMAT_SAM: convert_sam,
    FORMAT_SIMFEATUP: convert_simfeatup,
}


def read_checkpoint(path: Path, fmt: str, architecture: str) -> StateDict:
    """Read ``path`` (a file in format ``fmt``) and convert it into the layout of ``architecture``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint file {path} does not exist")
    if fmt not in CONVERTERS:
        raise WeightsError(f"unknown checkpoint format {fmt!r}; known: {', '.join(CONVERTERS)}")
    raw = read_torchscript_tensors(path) if is_torchscript_archive(path) else load_plain(path)
    return CONVERTERS[fmt](raw, architecture)
