"""AlignCLIP's numerical core: Self-Guided Alignment, Cluster-Constrained Enhancement and the fusion.

Paper: "AlignCLIP" (``docs/papers/alignclip-paper.md``), Sec. 3.2-3.4, Eqs. 5-14, Algorithms 1-2
(appendix A.10). No official code is public; every choice the paper leaves open is stated in the docstring
of the function that makes it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import InputError
from .kmeans import KMeansMetric, at_least_float32, kmeans

Affinity = Literal["features", "attention"]
Propagation = Literal["clamp", "proxy"]
_AFFINITIES: tuple[str, ...] = ("features", "attention")
_PROPAGATIONS: tuple[str, ...] = ("clamp", "proxy")


def _check_unit_interval(name: str, value: float) -> None:
    """Raise :class:`InputError` unless ``0 <= value <= 1`` (AlignCLIP's alpha and beta)."""
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be between 0 and 1, got {value}")


def self_guided_alignment(patch_feats: torch.Tensor, text: torch.Tensor, alpha: float, top_n: int = 1) -> torch.Tensor:
    """Align text embeddings with their most similar image patch (SGA, Eqs. 5-7, Algorithm 1).

    ``patch_feats (..., N, D)``, ``text (..., K, D)`` (one row per class or per prompt; leading batch
    dimensions broadcast) -> aligned, L2-normalised text embeddings ``(..., K, D)``:

    - Eq. 5: cosine similarity of every patch with every text embedding;
    - Eq. 6: per text embedding the ``top_n`` most similar patches (``top_n=1`` is the paper's argmax).
      Algorithm 1 takes a softmax over the patches before ``topk``; softmax is strictly increasing, so it
      selects the same patches and is left out;
    - the prototype ``p`` is the mean of the selected patch features (Algorithm 1's ``gather(...).mean``),
      taken from the L2-normalised patch features. Algorithm 1's names (``image_features``,
      ``query_features``) are SegEarth-OV's, where both are L2-normalised by the time logits are computed
      (``image_features /= norm``); Eq. 5 is a cosine anyway. With unit prototypes and unit text
      embeddings, ``alpha`` balances two vectors of the same scale whatever the backbone's feature norms;
    - Eq. 7: ``t' = (1 - alpha) t + alpha p`` on the normalised ``t``, then L2-normalised (Algorithm 1's
      return value). ``alpha = 0`` gives the normalised input text embeddings.
    """
    _check_unit_interval("alpha", alpha)
    n_patches = patch_feats.shape[-2]
    if not 1 <= top_n <= n_patches:
        raise InputError(f"top_n must be between 1 and the number of patches ({n_patches}), got {top_n}")
    patches = F.normalize(at_least_float32(patch_feats), dim=-1)
    queries = F.normalize(at_least_float32(text), dim=-1)
    similarity = patches @ queries.transpose(-1, -2)
    index = similarity.topk(top_n, dim=-2).indices.transpose(-1, -2)
    weights = torch.zeros((*index.shape[:-1], n_patches), dtype=patches.dtype, device=patches.device).scatter_(
        -1, index, 1.0 / top_n
    )
    prototypes = weights @ patches
    aligned = (1.0 - alpha) * queries + alpha * prototypes
    return F.normalize(aligned, dim=-1).to(text.dtype)


def cluster_mask(labels: torch.Tensor) -> torch.Tensor:
    """Eq. 10: ``M[i, j] = G(i) == G(j)`` as a bool ``(..., N, N)`` matrix, by one broadcast comparison."""
    return labels[..., :, None] == labels[..., None, :]


def feature_affinity(feats: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Algorithm 2's affinity ``A = F F^T`` ``(..., N, N)`` of VFM patch features ``(..., N, C)``.

    ``normalize=True`` L2-normalises the rows first, so ``A`` is the cosine similarity in ``[-1, 1]`` with a
    unit diagonal (the pseudo code multiplies the features as given; see
    :func:`cluster_constrained_enhancement` for why normalising is the default).
    """
    work = at_least_float32(feats)
    if normalize:
        work = F.normalize(work, dim=-1)
    return work @ work.transpose(-1, -2)


def propagate_logits(
    affinity: torch.Tensor,
    logits: torch.Tensor,
    mask: torch.Tensor,
    mode: Propagation = "clamp",
    *,
    proxy_shift: float = 1.2,
    proxy_scale: float = 3.0,
) -> torch.Tensor:
    """Eqs. 11-12: ``S_hat = Norm((A * M) S')``, a per-patch weighted average of same-cluster logits.

    ``affinity (..., N, N)``, ``logits (..., N, K)``, ``mask (..., N, N)`` bool -> ``(..., N, K)`` (leading
    dimensions: independent windows). ``Norm`` is read as row
    normalisation of the masked affinity (the paper: "the logits maps are weighted and averaged based on
    affinity values within the same cluster"). Reading ``Norm`` as a normalisation of the product instead
    (e.g. over classes) would not give a weighted average and would put ``S_hat`` on another scale than
    ``S_up``, which Eq. 14 mixes it with linearly. A weighted average needs non-negative weights; a cosine
    affinity has negative entries, handled by ``mode``:

    - ``"clamp"`` (default): ``W = max(A, 0) * M``, rows divided by their sums. The smallest change to the
      pseudo code's ``F F^T`` that makes it a weighted average: negatively correlated patches get weight 0,
      the rest keep their affinity as weight. With normalised features the diagonal is 1, so no row is empty.
    - ``"proxy"``: ProxyCLIP's proxy attention, the closest published analogue of ``propagate_aff``:
      ``(A - proxy_shift * mean(A)) * proxy_scale`` with the mean over the whole (unmasked) matrix, entries
      below 0 or outside the cluster set to ``-inf``, softmax over each row. The diagonal is always kept so
      that a row can never be empty.

    Both reduce to the identity when every patch is its own cluster, and to unmasked propagation with one
    cluster.
    """
    if mode not in _PROPAGATIONS:
        raise InputError(f"unknown propagation {mode!r}; choose one of {', '.join(_PROPAGATIONS)}")
    work = at_least_float32(affinity)
    values = at_least_float32(logits)
    if mode == "clamp":
        weights = work.clamp_min(0.0) * mask
        total = weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(work.dtype).tiny)
        return ((weights @ values) / total).to(logits.dtype)
    shifted = (work - proxy_shift * work.mean(dim=(-2, -1), keepdim=True)) * proxy_scale
    eye = torch.eye(work.shape[-1], dtype=torch.bool, device=work.device)
    keep = ((shifted >= 0) | eye) & mask
    weights = shifted.masked_fill(~keep, float("-inf")).softmax(dim=-1)
    return (weights @ values).to(logits.dtype)


def cluster_constrained_enhancement(
    vfm_feats: torch.Tensor,
    logits: torch.Tensor,
    n_clusters: int = 3,
    *,
    affinity: Affinity = "features",
    attention: torch.Tensor | None = None,
    normalize: bool = True,
    propagation: Propagation = "clamp",
    seed: int = 0,
    kmeans_iters: int = 300,
    kmeans_metric: KMeansMetric = "euclidean",
    proxy_shift: float = 1.2,
    proxy_scale: float = 3.0,
) -> torch.Tensor:
    """Refine patch logits by propagation within K-means clusters of VFM features (CCE, Eqs. 9-12, Alg. 2).

    ``vfm_feats (N, C)`` patch features of the vision foundation model, ``logits (N, K)`` the SGA-aligned
    patch logits ``S'`` on the same grid -> refined logits ``S_hat (N, K)``; with a leading batch dimension
    (``(B, N, C)``, ``(B, N, K)``, attention ``(B, N, N)``) every window is refined on its own, in one pass
    (K-means batched, :func:`kmeans`).

    1. Eq. 9: ``labels = kmeans(features, n_clusters, seed=seed)`` (``kmeans_metric`` as in :func:`kmeans`).
    2. The affinity ``A``: ``affinity="features"`` (default, Algorithm 2: ``vfm_features @ vfm_features.T``)
       or ``affinity="attention"`` (the paper's text: the VFM's last-layer self-attention over patches,
       passed as ``attention (N, N)``, e.g. heads averaged, prefix tokens dropped). The paper's text and its
       pseudo code disagree; the pseudo code is the more concrete description, so it is the default.
    3. Eq. 10-11: ``A * M`` with ``M`` the same-cluster mask; Eq. 12: row-normalised propagation
       (:func:`propagate_logits`, ``propagation`` ``"clamp"`` by default or ``"proxy"``).

    ``normalize=True`` L2-normalises the VFM features once, before clustering and before the feature
    affinity. Algorithm 2 does not show a normalisation, but (a) DINO and SAM patch features have very
    unequal norms (DINO's high-norm artefact tokens, SAM's unnormalised neck output), which would make a raw
    ``F F^T`` propagation dominated by a few tokens and K-means split clusters by norm rather than by
    direction; (b) every related training-free method that propagates with VFM feature affinities
    (ProxyCLIP, SDCI's graphs) uses cosine similarities; (c) it bounds ``A`` to ``[-1, 1]`` with a unit
    diagonal, so the row normalisation is well defined. ``normalize=False`` gives the literal pseudo code.
    """
    if affinity not in _AFFINITIES:
        raise InputError(f"unknown CCE affinity {affinity!r}; choose one of {', '.join(_AFFINITIES)}")
    n = vfm_feats.shape[-2]
    if tuple(logits.shape[:-1]) != tuple(vfm_feats.shape[:-1]):
        raise ValueError(f"{n} VFM patches but {logits.shape[-2]} logit rows; resample them to one grid first")
    feats = at_least_float32(vfm_feats)
    if normalize:
        feats = F.normalize(feats, dim=-1)
    labels, _ = kmeans(feats, n_clusters, iters=kmeans_iters, seed=seed, metric=kmeans_metric)
    if affinity == "features":
        aff = feature_affinity(feats, normalize=False)
    else:
        if attention is None or tuple(attention.shape) != (*vfm_feats.shape[:-2], n, n):
            got = None if attention is None else tuple(attention.shape)
            raise ValueError(f"affinity='attention' needs an ({n}, {n}) attention matrix, got {got}")
        aff = attention
    return propagate_logits(
        aff, logits, cluster_mask(labels), propagation, proxy_shift=proxy_shift, proxy_scale=proxy_scale
    )


def fuse_logits(s_hat: torch.Tensor, s_up: torch.Tensor, beta: float) -> torch.Tensor:
    """Eq. 14: ``S_final = beta * Interpolate(S_hat) + (1 - beta) * S_up``.

    ``s_hat (K, h, w)`` or ``(B, K, h, w)`` CCE-refined patch-grid logits, ``s_up`` the upsampled logits of
    the same rank with spatial size ``(H, W)``. ``Interpolate`` is bilinear (the paper), with
    ``align_corners=False`` (mmseg's and SegEarth-OV's ``resize``). ``beta = 0`` returns ``s_up`` exactly.
    """
    _check_unit_interval("beta", beta)
    if s_hat.ndim != s_up.ndim or s_hat.ndim not in (3, 4) or s_hat.shape[:-2] != s_up.shape[:-2]:
        raise ValueError(f"cannot fuse logits of shapes {tuple(s_hat.shape)} and {tuple(s_up.shape)}")
    batched = s_hat if s_hat.ndim == 4 else s_hat[None]
    interp = F.interpolate(at_least_float32(batched), size=tuple(s_up.shape[-2:]), mode="bilinear", align_corners=False)
    if s_hat.ndim == 3:
        interp = interp[0]
    return (beta * interp + (1.0 - beta) * at_least_float32(s_up)).to(s_up.dtype)
