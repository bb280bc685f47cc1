"""The GBN as torch modules: sparse batches, Weibull encoder, generative links."""
from .batch import SparseBatch
from .gbn import GBN, LINKS

__all__ = ["GBN", "LINKS", "SparseBatch"]
