"""Text embeddings of class prompts: every prompt in every template, batched, normalised, averaged, cached.

Two averaging rules, both over L2-normalised CLIP text embeddings ``e(template, name)``:

- :meth:`TextEncoder.encode_prompts` (open_clip's ``build_zero_shot_classifier``, used by SegEarth-OV):
  ``t = normalise(mean_templates e(template, name))``.
- :meth:`TextEncoder.encode_prompt_sets` (SDCI's ``CLIP.classifier`` for comma-separated class names):
  ``t = normalise(mean_templates normalise(mean_names e(template, name)))``; a set of one name gives the
  same vector as :meth:`~TextEncoder.encode_prompts`.

Texts are tokenised once, sorted by length and encoded in batches cut to the longest text of each batch
(CLIP's causal mask makes the cut exact; see :meth:`ClipBackbone.encode_text`). Normalising and averaging
happen in fp32 whatever the model's dtype, and results are cached per (model, weights dtype and device,
prompts, templates): a second request costs nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError

if TYPE_CHECKING:
    from ..backbones.clip import ClipBackbone
    from ..device import Runtime

CacheKey = tuple[str, tuple[tuple[str, ...], ...], tuple[str, ...], torch.dtype, torch.device]

# per model (dropped with it): (rule, prompts, templates, weights dtype, device) -> embeddings
_CACHE: weakref.WeakKeyDictionary[ClipBackbone, dict[CacheKey, Tensor]] = weakref.WeakKeyDictionary()


class TextEncoder:
    """Class text embeddings for a :class:`ClipBackbone` whose weights are on ``runtime``'s device.

    Results are fp32 ``(K, D)`` unit vectors on the runtime's device. ``batch_size`` bounds how many texts
    go through the text tower at once.
    """

    def __init__(self, backbone: ClipBackbone, runtime: Runtime, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.backbone = backbone
        self.runtime = runtime
        self.batch_size = batch_size

    def encode_prompts(self, prompts: Sequence[str], templates: Sequence[str]) -> Tensor:
        """``(P, D)`` embeddings: per prompt, the re-normalised mean over templates of unit embeddings.

        The rule of open_clip's ``build_zero_shot_classifier``.
        """
        return self._cached("prompts", [[prompt] for prompt in prompts], templates)

    def encode_prompt_sets(self, sets: Sequence[Sequence[str]], templates: Sequence[str]) -> Tensor:
        """``(K, D)`` embeddings of prompt sets (a class named by several comma-separated sub-names).

        SDCI's rule (``CLIP.classifier`` of the official code): per template, the unit embeddings of the
        sub-names are averaged and re-normalised; these are then averaged over templates and re-normalised.
        """
        return self._cached("sets", sets, templates)

    def _cached(self, rule: str, sets: Sequence[Sequence[str]], templates: Sequence[str]) -> Tensor:
        """Look up or compute the embeddings of ``sets`` under ``rule``; a copy the caller may change."""
        names = tuple(tuple(names) for names in sets)
        patterns = tuple(templates)
        _check_inputs(names, patterns)
        key = (rule, names, patterns, self.backbone.dtype, self.backbone.device)
        per_model = _CACHE.setdefault(self.backbone, {})
        if key not in per_model:
            per_model[key] = self._compute(rule, names, patterns)
        return per_model[key].clone()

    def _compute(
        self, rule: str, sets: tuple[tuple[str, ...], ...], templates: tuple[str, ...]
    ) -> Tensor:
        """Embeddings of ``sets`` (each a tuple of names) under ``rule`` (``prompts`` or ``sets``)."""
        unique = list(dict.fromkeys(name for names in sets for name in names))
        table = self._unit_embeddings(unique, templates)  # (names, templates, D)
        index = {name: row for row, name in enumerate(unique)}
        rows = []
        for names in sets:
            per_template = table[[index[name] for name in names]]  # (S, T, D)
            if rule == "sets":
                per_template = F.normalize(per_template.mean(dim=0), dim=-1)
            else:
                per_template = per_template[0]
            rows.append(F.normalize(per_template.mean(dim=0), dim=-1))
        return torch.stack(rows).to(self.runtime.device)

    def _unit_embeddings(self, names: list[str], templates: tuple[str, ...]) -> Tensor:
        """Unit fp32 embeddings ``(len(names), len(templates), D)`` of every name in every template.

        Texts are encoded longest first in batches of ``batch_size``, each cut to its longest text.
        """
        texts = [template.format(name) for name in names for template in templates]
        token_ids = self.backbone.tokenizer(texts)
        lengths = token_ids.argmax(dim=-1) + 1  # end-of-text has the largest id
        order = torch.argsort(lengths, descending=True, stable=True)
        out = torch.empty(len(texts), self.backbone.embed_dim, dtype=torch.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = token_ids[rows, : int(lengths[rows].max())]
            out[rows] = F.normalize(self.backbone.encode_text(batch).float(), dim=-1).cpu()
        return out.view(len(names), len(templates), -1)


def _check_inputs(sets: tuple[tuple[str, ...], ...], templates: tuple[str, ...]) -> None:
    """Raise :class:`InputError` for an empty prompt list, an empty set or a template without ``{}``."""
    if not sets:
        raise InputError("no prompts to encode")
    if not templates:
        raise InputError("no prompt templates given")
    if any(not names for names in sets):
        raise InputError("a class has no prompt")
    bad = [template for template in templates if "{}" not in template]
    if bad:
        raise InputError(f"prompt template {bad[0]!r} has no '{{}}' for the class name")
