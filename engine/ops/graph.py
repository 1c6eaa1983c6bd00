"""BCDR's graph pieces (SDCI Eqs. 11-15): KNN transition matrices, score diffusion, cross-grid resampling.

Facts from the official code (``modified_clip/model.py``, ``ovs/pipeline.py``): the graph is built from one
feature map (the last level), cosine similarity with the diagonal set to ``-1e9``, the top ``k = 30`` entries
per row, weights ``exp(sim / 0.07)`` divided by ``row sum + 1e-6``; scores move between patch grids by
bilinear interpolation (``align_corners=False``, no antialiasing); the diffusion runs 40 steps of
``S <- 0.9 T S + 0.1 S0`` in fp16.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import torch

_DIAGONAL = -1e9  # the official value written on the similarity matrix's diagonal


@dataclass(frozen=True)
class KnnTransition:
    """A sparse ``N x N`` transition matrix with exactly ``k`` stored entries per row.

    ``values[i, j]`` is the weight of the edge from node ``i`` to node ``indices[i, j]``; rows sum to
    ``s / (s + eps)`` (one, up to the official ``+1e-6`` in the denominator). A batch of graphs has a leading
    batch dimension (``(B, N, k)``, indices per graph); :func:`block_diagonal` turns it into one graph.
    """

    values: torch.Tensor
    indices: torch.Tensor

    @property
    def size(self) -> int:
        """Number of nodes ``N``."""
        return int(self.values.shape[-2])

    def to_sparse_csr(self) -> torch.Tensor:
        """The matrix as a ``torch.sparse_csr_tensor`` (N x N, ``k`` non-zeros per row).

        PyTorch's one-time "beta" notice about CSR tensors is silenced: the layout is valid by construction.
        """
        import torch

        n, k = self.values.shape
        crow = torch.arange(0, n * k + 1, k, dtype=torch.int64, device=self.values.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                crow, self.indices.reshape(-1), self.values.reshape(-1), size=(n, n), check_invariants=False
            )

    def to_dense(self) -> torch.Tensor:
        """The matrix as a dense ``(N, N)`` tensor (tests and the closed form)."""
        import torch

        dense = torch.zeros((self.size, self.size), dtype=self.values.dtype, device=self.values.device)
        return dense.scatter_(1, self.indices, self.values)


def knn_transition(features: torch.Tensor, k: int = 30, tau: float = 0.07, eps: float = 1e-6) -> KnnTransition:
    """Row-stochastic KNN transition matrix of token features ``(N, C)`` (Eqs. 11-12), stored sparse; for a
    batch ``(B, N, C)`` one graph per batch item, computed together (values and indices ``(B, N, k)``).

    ``T_ij = exp(s_ij / tau) / (sum_l exp(s_il / tau) + eps)`` over the ``k`` most similar tokens ``j != i``,
    ``s`` the cosine similarity (float32). For numerical safety the row maximum ``m_i`` (the first top-k
    value) is subtracted before ``exp``; multiplying numerator and denominator by ``exp(-m_i / tau)`` shows

        T_ij = exp((s_ij - m_i) / tau) / (sum_l exp((s_il - m_i) / tau) + eps * exp(-m_i / tau)),

    the same value, so ``eps`` is scaled by ``exp(-m_i / tau)`` (computed in float64) to keep the official
    ``+1e-6`` exactly where the official code has it (on the un-shifted row sum). Nothing overflows for any
    ``tau``, where the official ``exp(s / tau)`` does for ``tau < 0.011`` in float32.
    """
    import torch

    if features.ndim not in (2, 3):
        raise InputError(f"features must be (N, C) or (B, N, C), got shape {tuple(features.shape)}")
    n = features.shape[-2]
    if not 0 < k < n:
        raise InputError(f"k must be between 1 and N - 1 = {n - 1}, got {k}")
    f = torch.nn.functional.normalize(features.float(), p=2, dim=-1)
    sim = f @ f.transpose(-2, -1)
    sim.diagonal(dim1=-2, dim2=-1).fill_(_DIAGONAL)
    top, idx = torch.topk(sim, k=k, dim=-1)
    row_max = top[..., :1]
    e = torch.exp((top - row_max) / tau)
    scaled_eps = (eps * torch.exp(-row_max.double() / tau)).float()
    return KnnTransition(values=e / (e.sum(dim=-1, keepdim=True) + scaled_eps), indices=idx)


def block_diagonal(graphs: list[KnnTransition]) -> KnnTransition:
    """One graph whose nodes are those of every graph in ``graphs`` (each ``(N, k)`` or a batch ``(B, N, k)``,
    one ``k``), in order, with no edge between them: the block-diagonal matrix.

    Diffusing the stacked scores on it is diffusing each graph's scores on its own graph, row for row the
    same sums (:func:`diffuse`), in one sparse product per step for a whole batch and both BCDR graphs.
    """
    import torch

    values, indices = [], []
    offset = 0
    for graph in graphs:
        n, k = graph.values.shape[-2:]
        count = graph.values.reshape(-1, n, k).shape[0]
        starts = offset + n * torch.arange(count, device=graph.indices.device).view(-1, 1, 1)
        values.append(graph.values.reshape(-1, k))
        indices.append((graph.indices.reshape(-1, n, k) + starts).reshape(-1, k))
        offset += count * n
    return KnnTransition(values=torch.cat(values), indices=torch.cat(indices))


def diffuse(
    T: KnnTransition, S0: torch.Tensor, alpha: float = 0.9, steps: int = 40, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Score diffusion ``S <- alpha T S + (1 - alpha) S0`` from ``S = S0`` (Eqs. 13-14). ``S0`` is ``(N, K)``.

    ``dtype`` is the precision the iterates are stored in, default float32: on a CPU fp16 is no faster and
    rounds every step to 3 significant digits. ``torch.float16`` reproduces the official run (``T`` and ``S``
    in half; each product ``T S`` accumulated in float32 and rounded to half, then the two scaled terms and
    their sum each rounded to half, as PyTorch's half arithmetic does). The result is float32.
    After ``n`` steps ``S_n - S* = (alpha T)^n (S0 - S*)``, so ``||S_n - S*||_inf <= alpha^n ||S0 - S*||_inf``
    (``T`` row-(sub)stochastic): ``0.9^40 = 1.5 %``; see :func:`diffuse_closed_form`.
    """
    import torch

    if S0.ndim != 2 or S0.shape[0] != T.size:
        raise InputError(f"scores must be (N, K) with N = {T.size}, got shape {tuple(S0.shape)}")
    dt = dtype or torch.float32
    P = KnnTransition(T.values.to(dt).float(), T.indices).to_sparse_csr()
    s0 = S0.to(dt)
    S = s0
    for _ in range(steps):
        S = alpha * (P @ S.float()).to(dt) + (1 - alpha) * s0
    return S.float()


def diffuse_closed_form(T: KnnTransition, S0: torch.Tensor, alpha: float = 0.9) -> torch.Tensor:
    """The fixed point ``S* = (1 - alpha) (I - alpha T)^-1 S0`` (Eq. 15 with T -> inf), by a linear solve.

    Solved in float64 (``I - alpha T`` is strictly diagonally dominant, so well conditioned); returns float32.
    40 steps of :func:`diffuse` stop short of it by at most ``alpha^40 ||S0 - S*||_inf`` (1.5 % at alpha 0.9);
    measured on a 37x37 graph of a Potsdam tile's patches with K=30 smooth scores, the error is 2.6e-4 of
    ``||S0 - S*||_inf`` and 6.5e-4 of ``||S*||`` (Frobenius): the graph mixes faster than the bound assumes
    (``bench/results/cscp-2026-11-23.md``).
    """
    import torch

    if S0.ndim != 2 or S0.shape[0] != T.size:
        raise InputError(f"scores must be (N, K) with N = {T.size}, got shape {tuple(S0.shape)}")
    A = torch.eye(T.size, dtype=torch.float64) - alpha * T.to_dense().double()
    return torch.linalg.solve(A, (1 - alpha) * S0.double()).float()


def _grid(shape: tuple[int, int] | int) -> tuple[int, int]:
    """A patch grid as ``(rows, cols)``; an int is a square grid."""
    return (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))


def resample_grid(
    scores: torch.Tensor, src_grid: tuple[int, int] | int, dst_grid: tuple[int, int] | int
) -> torch.Tensor:
    """Resample scores from one patch grid to another (CLIP 37x37 <-> DINOv2 38x38 or DINO 48x48).

    ``scores`` is token-major ``(h1 * w1, K)``, a map ``(K, h1, w1)`` or a batch of maps ``(B, K, h1, w1)``;
    the result has the same layout on ``dst_grid``. Bilinear, ``align_corners=False``, no antialiasing, as
    the official ``upsample_seq``; computed in float32 and returned in the input's dtype (half in, half out,
    as PyTorch's half interpolation rounds).
    """
    import torch

    (h1, w1), (h2, w2) = _grid(src_grid), _grid(dst_grid)
    token_major = scores.ndim == 2
    if token_major and scores.shape[0] != h1 * w1:
        raise InputError(f"scores have {scores.shape[0]} tokens, the source grid {h1}x{w1} has {h1 * w1}")
    if not token_major and (scores.ndim not in (3, 4) or tuple(scores.shape[-2:]) != (h1, w1)):
        raise InputError(
            f"scores must be (N, K), (K, {h1}, {w1}) or (B, K, {h1}, {w1}), got shape {tuple(scores.shape)}"
        )
    maps = scores.T.reshape(1, -1, h1, w1) if token_major else scores.reshape(-1, *scores.shape[-3:])
    out = torch.nn.functional.interpolate(maps.float(), size=(h2, w2), mode="bilinear", align_corners=False)
    if token_major:
        return out[0].reshape(-1, h2 * w2).T.to(scores.dtype)
    return out.reshape(*scores.shape[:-2], h2, w2).to(scores.dtype)
