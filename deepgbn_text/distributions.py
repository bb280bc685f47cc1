"""Gamma/Weibull/Poisson numerics of the GBN: every clamp constant lives here, named.

Gamma is written Gam(shape alpha, rate beta); Weibull(k, lam) has density
k/lam (x/lam)^(k-1) exp(-(x/lam)^k) and mean lam * Gamma(1 + 1/k).

The variational posterior of every layer is one of ``POSTERIORS``: a Weibull (the default, WHAI's
explicit reparameterisation) or a gamma (the family of the model's own conditionals, sampled with
implicit reparameterisation). Both are given by a shape k and a mean; ``posterior_from_mean``,
``posterior_rsample`` and ``posterior_kl`` dispatch on the family.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

EULER_GAMMA = 0.5772156649015329

WEIBULL_SHAPE_MIN = 0.1
"""Smallest Weibull shape k the encoder may output (as WHAI)."""
WEIBULL_SHAPE_MAX = 10.0
"""Largest Weibull shape k (a very peaked posterior)."""
POSITIVE_MIN = 1e-10
"""Floor for every rate, mean, scale and gamma shape that enters a log or lgamma."""
UNIFORM_EPS = 1e-6
"""Uniform draws for the inverse-CDF sampler are kept in [UNIFORM_EPS, 1 - UNIFORM_EPS]."""
THETA_MAX = 1e4
"""Ceiling on a sampled latent; keeps a rare extreme draw (small k) from overflowing the next layer."""
REFINE_MEAN_MIN = 1e-6
"""Floor on a posterior mean before test-time refinement takes its log (model/refine.py)."""
GAMMA_SHAPE_MIN = WEIBULL_SHAPE_MIN
"""Smallest shape of a gamma posterior (as the Weibull's; a gamma with shape 0.1 already has CV 3.2)."""
GAMMA_SHAPE_MAX = 70.0
"""Largest shape of a gamma posterior: Gam(70, .) has the coefficient of variation (0.12) of a Weibull
with k = WEIBULL_SHAPE_MAX, so neither family may be more peaked than the other."""
GAMMA_RATE = 1.0
"""The rate c of every gamma layer (fixed, as in WHAI)."""
POSTERIORS = ("weibull", "gamma")
"""Variational families of a layer's posterior (both parameterised by a shape and the mean)."""


def clamp_shape(k: torch.Tensor) -> torch.Tensor:
    """Keep a Weibull shape inside [WEIBULL_SHAPE_MIN, WEIBULL_SHAPE_MAX]."""
    return k.clamp(WEIBULL_SHAPE_MIN, WEIBULL_SHAPE_MAX)


def positive(x: torch.Tensor) -> torch.Tensor:
    """Floor a non-negative quantity at POSITIVE_MIN so logs and lgammas stay finite."""
    return x.clamp_min(POSITIVE_MIN)


def weibull_scale_from_mean(k: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The scale lam whose Weibull(k, lam) has the given mean: lam = mean / Gamma(1 + 1/k)."""
    return positive(mean) / torch.exp(torch.lgamma(1.0 + 1.0 / k))


def weibull_mean(k: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """E[Weibull(k, lam)] = lam * Gamma(1 + 1/k)."""
    return lam * torch.exp(torch.lgamma(1.0 + 1.0 / k))


def weibull_rsample(k: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Reparameterised draw lam * (-log(1 - u))^(1/k), u ~ U(0, 1), differentiable in k and lam."""
    u = torch.rand_like(lam)
    u = u.clamp(UNIFORM_EPS, 1.0 - UNIFORM_EPS)
    return (lam * (-torch.log1p(-u)).pow(1.0 / k)).clamp(max=THETA_MAX)


def log_of(x: torch.Tensor | float) -> torch.Tensor | float:
    """log of a tensor or of a Python number; a number stays on the host (a CUDA tensor made from it
    would be a copy that makes the host wait for the device, three times a training step)."""
    return torch.log(x) if isinstance(x, torch.Tensor) else math.log(x)


def kl_weibull_gamma(k: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    """KL( Weibull(k, lam) || Gam(alpha, rate beta) ), elementwise, in closed form."""
    lam = positive(lam)
    alpha = positive(alpha)
    return (
        EULER_GAMMA * alpha / k
        - alpha * torch.log(lam)
        + torch.log(k)
        + beta * lam * torch.exp(torch.lgamma(1.0 + 1.0 / k))
        - EULER_GAMMA
        - 1.0
        - alpha * log_of(beta)
        + torch.lgamma(alpha)
    )


def clamp_gamma_shape(k: torch.Tensor) -> torch.Tensor:
    """Keep a gamma posterior's shape inside [GAMMA_SHAPE_MIN, GAMMA_SHAPE_MAX]."""
    return k.clamp(GAMMA_SHAPE_MIN, GAMMA_SHAPE_MAX)


def gamma_rate_from_mean(alpha: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The rate beta whose Gam(alpha, beta) has the given mean: beta = alpha / mean."""
    return alpha / positive(mean)


@torch.compiler.disable  # inductor has no kernel for the draw's gradient (aten._standard_gamma_grad)
def gamma_rsample(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Draw from Gam(alpha, rate beta) with implicit reparameterisation (``torch.distributions.Gamma.rsample``:
    the gradient of the draw comes from differentiating its CDF), differentiable in alpha and beta."""
    draw = torch.distributions.Gamma(alpha, positive(beta), validate_args=False).rsample()
    return draw.clamp(max=THETA_MAX)


def kl_gamma_gamma(
    alpha_q: torch.Tensor, beta_q: torch.Tensor, alpha_p: torch.Tensor, beta_p: torch.Tensor | float
) -> torch.Tensor:
    """KL( Gam(alpha_q, beta_q) || Gam(alpha_p, beta_p) ), rates beta, elementwise, in closed form:

    (alpha_q - alpha_p) digamma(alpha_q) - lgamma(alpha_q) + lgamma(alpha_p)
        + alpha_p (log beta_q - log beta_p) + alpha_q (beta_p - beta_q) / beta_q
    """
    alpha_q, beta_q, alpha_p = positive(alpha_q), positive(beta_q), positive(alpha_p)
    return (
        (alpha_q - alpha_p) * torch.digamma(alpha_q)
        - torch.lgamma(alpha_q)
        + torch.lgamma(alpha_p)
        + alpha_p * (torch.log(beta_q) - log_of(beta_p))
        + alpha_q * (beta_p - beta_q) / beta_q
    )


def check_posterior(family: str) -> str:
    """Return ``family`` when it is one of POSTERIORS, else raise ValueError."""
    if family not in POSTERIORS:
        raise ValueError(f"posterior must be one of {POSTERIORS}, got {family!r}")
    return family


def posterior_from_mean(family: str, k: torch.Tensor, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A layer's posterior from an unclamped shape and its mean: (k clamped to the family's range, the
    family's second parameter, mean). That parameter is the Weibull scale lam = mean / Gamma(1 + 1/k)
    or the gamma rate beta = k / mean."""
    if family == "weibull":
        k = clamp_shape(k)
        return k, weibull_scale_from_mean(k, mean), mean
    k = clamp_gamma_shape(k)
    return k, gamma_rate_from_mean(k, mean), mean


def posterior_rsample(family: str, k: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A reparameterised draw from the family's (k, param) of :func:`posterior_from_mean`."""
    return weibull_rsample(k, param) if family == "weibull" else gamma_rsample(k, param)


def capped_concentration_rate(shape: torch.Tensor, scale: float) -> torch.Tensor:
    """rho = min(1, scale / sqrt(sum of ``shape`` over its last dim)), one per row (kept as a column).

    Gam(rho a, rho c) has the mean a / c of the prior Gam(a, c), and a total shape (its concentration:
    how closely theta's proportions must follow a's) of at most scale x sqrt(sum a), where Gam(a, c)'s is
    sum a, which grows with the document's length."""
    return (scale / shape.sum(-1, keepdim=True).sqrt()).clamp(max=1.0)


def posterior_kl(
    family: str, k: torch.Tensor, param: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor | float
) -> torch.Tensor:
    """KL( posterior (k, param) || Gam(alpha, rate beta) ), elementwise, in closed form."""
    if family == "weibull":
        return kl_weibull_gamma(k, param, alpha, beta)
    return kl_gamma_gamma(k, param, alpha, beta)


def poisson_log_likelihood(counts: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Per-document sum_v x_v log(rate_v) - rate_v - lgamma(x_v + 1) for dense counts and rates."""
    return (counts * torch.log(positive(rate)) - rate - torch.lgamma(counts + 1.0)).sum(-1)


def poisson_log_likelihood_sparse(
    offsets: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    values: torch.Tensor,
    theta: torch.Tensor,
    phi: torch.Tensor,
) -> torch.Tensor:
    """Per-document Poisson log-likelihood with rate = theta @ phi.T, phi's columns on the simplex.

    Because every column of ``phi`` (V x K) sums to one, sum_v rate_v = sum_k theta_k, so the rate
    is needed only at the non-zero counts (``rows``, ``cols``, ``values`` in COO form, ordered by
    document; ``offsets``: where each document's entries start): O(nnz K).
    """
    # embedding, not phi[cols]: the same gather, and on CUDA a backward 8x faster than advanced
    # indexing's for 1.3M word ids (H200: 1.5 against 12.6 ms), deterministic, bit-identical on CPU
    return poisson_log_likelihood_at(offsets, values, rates_by_gather(rows, theta, F.embedding(cols, phi)), theta)


PRODUCT_RATES_MIN_DENSITY = 0.0125
"""On a CPU, the Poisson rates at a batch's non-zero counts come from one dense product theta Phi^T read at
those cells (:func:`rates_by_product`) once at least this share of the batch's cells are non-zero, and from
Phi's and theta's rows gathered per non-zero (:func:`rates_by_gather`) below it. Forward and backward of
one 256-document batch, K = 128, one thread, gather -> product: BBC (2.6% non-zero) 22 -> 7 ms, 20NG-3000
(1.8%) 4.9 -> 3.3 ms, IMDB (1.3%) 11.5 -> 8.4 ms, 20NG at V = 5,000 (1.0%) 8.2 -> 8.7 ms, the bundled sample
(0.8%) 6.4 -> 14.5 ms. On a GPU the gather is kept: the CUDA-graph step and its profile are built on it."""


def product_rates_pay(device: torch.device, nnz: int, n_docs: int, n_words: int) -> bool:
    """Whether :func:`rates_by_product` is the faster way to a batch's rates (see PRODUCT_RATES_MIN_DENSITY)."""
    return device.type == "cpu" and nnz >= PRODUCT_RATES_MIN_DENSITY * n_docs * n_words


def rates_by_gather(rows: torch.Tensor, theta: torch.Tensor, phi_rows: torch.Tensor) -> torch.Tensor:
    """(theta Phi^T) at the non-zero counts, from Phi's rows there (``phi_rows``, nnz x K) and theta's rows
    gathered per entry (``rows``). ``theta`` is docs x K, or docs x n x K for n sets of latents (the result
    is then nnz x n)."""
    n_docs = theta.shape[0]
    theta_rows = F.embedding(rows, theta.reshape(n_docs, -1)).view(rows.shape[0], *theta.shape[1:])
    if theta.dim() == 3:
        phi_rows = phi_rows.unsqueeze(1)
    return (theta_rows * phi_rows).sum(-1)


def rates_by_product(rows: torch.Tensor, cols: torch.Tensor, theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """:func:`rates_by_gather` through the dense rates theta Phi^T of the whole batch (``phi``: V x K), read
    at the cells (``rows``, ``cols``): one matrix product instead of a gather and a product per entry."""
    n_words, n_topics = phi.shape
    sets = theta[0].numel() // n_topics
    cells = (rows[:, None] * sets + torch.arange(sets, device=rows.device)) * n_words + cols[:, None]
    rates = (theta.reshape(-1, n_topics) @ phi.T).reshape(-1).index_select(0, cells.reshape(-1))
    return rates.view(rows.shape[0], *theta.shape[1:-1])


def poisson_log_likelihood_at(offsets: torch.Tensor, values: torch.Tensor, rate_nz: torch.Tensor,
                              theta: torch.Tensor) -> torch.Tensor:
    """Per-document Poisson log-likelihood from the rates at the non-zero counts (``rate_nz``: nnz, or nnz x
    n for n sets of latents; ``theta`` docs x K or docs x n x K, whose sum is the total rate because Phi's
    columns sum to one)."""
    if rate_nz.dim() > 1:
        values = values.unsqueeze(1)
    per_entry = values * torch.log(positive(rate_nz)) - torch.lgamma(values + 1.0)
    return per_document_sum(offsets, per_entry) - theta.sum(-1)


def per_document_sum(offsets: torch.Tensor, per_entry: torch.Tensor) -> torch.Tensor:
    """Sum the rows of ``per_entry`` (one per non-zero count, ordered by document) within each document
    (``offsets``: where each document's entries start). A segmented sum, not index_add: on CUDA that adds
    with atomics, in an order that changes run to run."""
    end = torch.full((1,), per_entry.shape[0], dtype=offsets.dtype, device=offsets.device)
    return torch.segment_reduce(per_entry, "sum", offsets=torch.cat((offsets, end)), axis=0, unsafe=True)


class CountAllocation:
    """A block of counts (CSR ``offsets``, ``cols``, ``values``, with each entry's document in ``rows``)
    against topics Phi (V x K, columns on the simplex): the expected allocation of every count x_dv to the
    topics under latents theta (docs x K), in proportion to phi_vk theta_dk. ``by_products`` (the default
    on a CPU): the rates at the counts by a sampled product, then sparse-dense products, with no nnz x K
    array (30 times faster than the gather at 154,000 counts and K = 128); otherwise (the default on a GPU,
    where these paths were not measured): Phi's rows gathered at the counts and segmented sums, whose
    order of summation is fixed."""

    def __init__(self, offsets: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, rows: torch.Tensor,
                 phi: torch.Tensor, by_products: bool | None = None) -> None:
        self.offsets, self.cols, self.values, self.rows, self.phi = offsets, cols, values, rows, phi
        self.by_products = phi.device.type == "cpu" if by_products is None else by_products
        if self.by_products:
            end = torch.full((1,), cols.shape[0], dtype=offsets.dtype, device=offsets.device)
            self.crow = torch.cat((offsets, end))
            self.shape = (offsets.shape[0], phi.shape[0])
            self.pattern = self._csr(values)
        else:
            self.phi_rows = F.embedding(cols, phi)

    def _csr(self, values: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # torch warns once that sparse CSR support is in beta
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.cols, values, self.shape, check_invariants=False)

    def _ratios(self, theta: torch.Tensor) -> torch.Tensor:
        """x_dv / (phi_v . theta_d) at every count: as a sparse CSR matrix on a CPU, per entry otherwise."""
        if self.by_products:
            rates = torch.sparse.sampled_addmm(self.pattern, theta, self.phi.T, beta=0.0).values()
            return self._csr(self.values / positive(rates))
        return self.values / positive(rates_by_gather(self.rows, theta, self.phi_rows))

    def per_topic(self, theta: torch.Tensor) -> torch.Tensor:
        """sum_v x_dv phi_vk / (phi_v . theta_d), docs x K: times theta, each document's counts allocated to
        each topic."""
        ratios = self._ratios(theta)
        if self.by_products:
            return ratios @ self.phi
        return per_document_sum(self.offsets, ratios[:, None] * self.phi_rows)

    def per_word(self, theta: torch.Tensor) -> torch.Tensor:
        """sum_d x_dv theta_dk / (phi_v . theta_d), V x K: times Phi, each word's counts allocated to each
        topic (summed over the documents)."""
        ratios = self._ratios(theta)
        if self.by_products:
            return ratios.t() @ theta
        return per_word_sum(self.cols, ratios[:, None] * F.embedding(self.rows, theta), self.phi.shape[0])


def per_word_sum(cols: torch.Tensor, per_entry: torch.Tensor, n_words: int) -> torch.Tensor:
    """Sum the rows of ``per_entry`` (one per non-zero count) by word (``cols``): n_words x ... . Sorted and
    segmented, as :func:`per_document_sum`, so the order of the sums is fixed on every device."""
    order = torch.argsort(cols, stable=True)
    sizes = torch.bincount(cols, minlength=n_words)
    starts = torch.cumsum(sizes, 0) - sizes
    end = torch.full((1,), cols.shape[0], dtype=starts.dtype, device=starts.device)
    return torch.segment_reduce(per_entry[order], "sum", offsets=torch.cat((starts, end)), axis=0, unsafe=True)


def gamma_poisson_fixed_point(allocation: CountAllocation, prior_shape: torch.Tensor, theta: torch.Tensor,
                              steps: int) -> torch.Tensor:
    """The posterior mean of theta ~ Gam(prior_shape, GAMMA_RATE), x ~ Pois(Phi theta) (Phi's columns on the
    simplex) at the fixed point of the expected allocation of the counts to topics: repeat ``steps`` times
    n_k = sum_v x_v phi_vk theta_k / (phi_v . theta), theta_k = (prior_shape_k + n_k) / (GAMMA_RATE + 1).
    ``allocation``: the counts against Phi; ``theta``: the starting point (docs x K)."""
    for _ in range(steps):
        theta = (prior_shape + theta * allocation.per_topic(theta)) / (GAMMA_RATE + 1.0)
    return theta

