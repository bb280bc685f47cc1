"""Generative links f_{l+1}: map a layer's latents to the gamma shapes (or Poisson rates) below.

``LinearLink`` is the GBN's Phi theta with simplex columns. ``NonlinearLink`` mixes that linear path with
a non-linear expert, f(theta) = (1 - g) Phi theta + g |theta| softmax(MLP(theta_hat)), where
|theta| is theta's total mass and theta_hat = theta / |theta|. The output is non-negative, it keeps the
mass |theta| as the linear link does, it is homogeneous (f(s theta) = s f(theta)), and with the gate g
at zero it is exactly the linear link. ``gate_max`` bounds g: an expert that takes over the link
explains every child layer with the same smooth map, and the parents' topics turn into copies of each
other (docs/model.md). With ``balanced``, Phi is a transport plan between uniform marginals
(:func:`balanced_columns`) instead of a column softmax.
"""
from __future__ import annotations

import torch
from torch import nn

from ..distributions import POSITIVE_MIN


def column_softmax(logits: torch.Tensor) -> torch.Tensor:
    """softmax over dim 0. On CUDA through the transpose: torch's kernel for a dim other than the last
    took 43 ms of a 90 ms training step on a 50,000 x 128 matrix (H200, profiled), the last-dim kernel and
    two copies a fraction of that. On CPU the plain call is faster."""
    if logits.is_cuda:
        return torch.softmax(logits.T, dim=-1).T.contiguous()
    return torch.softmax(logits, dim=0)


SINKHORN_ITERATIONS = 20
"""Sinkhorn scaling steps of a balanced link (the columns are exact after the last step), and the steps of
the same alternating form that solve for its gradient."""


SCALING_MIN = 1e-30
"""The smallest row or column sum a Sinkhorn step divides by (see :func:`sinkhorn_scaling`)."""


def balanced_columns(logits: torch.Tensor, iterations: int = SINKHORN_ITERATIONS) -> torch.Tensor:
    """Columns on the simplex from the transport plan between uniform marginals that is closest to
    exp(logits) (Sinkhorn scaling, as TraCo links parents to children): every column (parent) sums to
    one and every row (child) receives n_in / n_out of the parents' mass in total, so no child can be a
    large part of every parent. Differentiable: the gradient is that of the converged plan
    (:class:`BalancedColumns`)."""
    return BalancedColumns.apply(logits, iterations)


def sinkhorn_scaling(logits: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` Sinkhorn steps towards the plan between uniform marginals, returned as n_in times the
    plan (columns on the simplex). The steps scale exp(logits), each row first divided by its largest entry
    (which the row scaling absorbs, so no row underflows): two matrix-vector products a step instead of
    two log-sum-exps, about half the time on CPU for 128 x 32 and 32 x 8 links. An entry more
    than about 87 nats below its row's largest is zero in float32; SCALING_MIN keeps a column made only of
    such entries from dividing by zero."""
    n_out, n_in = logits.shape
    kernel = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    cols = torch.full((n_in,), 1.0 / n_in, dtype=logits.dtype, device=logits.device)
    for _ in range(iterations):
        rows = (1.0 / n_out) / (kernel @ cols).clamp_min(SCALING_MIN)
        cols = (1.0 / n_in) / (rows @ kernel).clamp_min(SCALING_MIN)
    return rows[:, None] * kernel * (cols * n_in)[None, :]


class BalancedColumns(torch.autograd.Function):
    """:func:`sinkhorn_scaling` with the gradient of the plan it converges to, by implicit differentiation.

    The plan is T = exp(L + f 1^T + 1 g^T) with potentials f, g that fix its row and column sums. For an
    upstream gradient G of the output n_in T, with A = G * n_in T: grad_L = A - T * (alpha 1^T + 1 beta^T),
    where (alpha, beta) solves diag(T 1) alpha + T beta = A 1 and T^T alpha + diag(T^T 1) beta = A^T 1
    (solved by as many alternating steps as the forward took; only alpha_i + beta_j is determined).
    It equals the gradient through the unrolled steps once they have converged, without keeping the
    steps for autograd: a training step of the default model on the sample was 0.8 ms faster."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, iterations: int) -> torch.Tensor:  # type: ignore[override]
        phi = sinkhorn_scaling(logits, iterations)
        ctx.save_for_backward(phi)
        ctx.iterations = iterations
        return phi

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (phi,) = ctx.saved_tensors
        plan = phi / phi.shape[1]
        weighted = grad * phi
        target_rows, target_cols = weighted.sum(1), weighted.sum(0)
        plan_rows, plan_cols = plan.sum(1), plan.sum(0)
        beta = torch.zeros_like(target_cols)
        for _ in range(ctx.iterations):
            alpha = (target_rows - plan @ beta) / plan_rows
            beta = (target_cols - plan.T @ alpha) / plan_cols
        return weighted - plan * (alpha[:, None] + beta[None, :]), None


class LinearLink(nn.Module):
    """f(theta) = Phi theta with Phi = softmax(logits) column-wise (n_out x n_in, columns on the simplex),
    or with ``balanced``, Phi = :func:`balanced_columns` (logits)."""

    def __init__(self, n_in: int, n_out: int, balanced: bool = False) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.randn(n_out, n_in))
        self.balanced = balanced

    @property
    def phi(self) -> torch.Tensor:
        """The loading matrix, n_out x n_in, every column a probability vector."""
        return balanced_columns(self.logits) if self.balanced else column_softmax(self.logits)

    def forward(self, theta: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        """Phi theta; ``phi``: this link's loadings when the caller computed them already."""
        return theta @ (self.phi if phi is None else phi).T


class NonlinearLink(LinearLink):
    """The linear link plus a gated, mass-preserving non-linear expert (see the module docstring)."""

    def __init__(self, n_in: int, n_out: int, hidden: int, gate: float = 0.1, balanced: bool = False,
                 gate_max: float = 1.0) -> None:
        super().__init__(n_in, n_out, balanced)
        self.expert = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))
        self.gate_raw = nn.Parameter(torch.tensor(float(gate)))
        self.gate_max = gate_max

    @property
    def gate(self) -> torch.Tensor:
        """The mixing weight g in [0, gate_max]; g = 0 is exactly the linear link."""
        return self.gate_raw.clamp(0.0, self.gate_max)

    def forward(self, theta: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        mass = theta.sum(-1, keepdim=True)
        expert = mass * torch.softmax(self.expert(theta / mass.clamp_min(POSITIVE_MIN)), dim=-1)
        g = self.gate
        return (1.0 - g) * super().forward(theta, phi) + g * expert
