"""deepgbn_text: deep topic models (Generalized Gamma Belief Network) for text and count data."""
from . import threads  # noqa: F401  # first: OpenMP's wait policy must be set before anything imports torch
from .corpus import Corpus
from .errors import UserInputError
from .estimator import GeneralizedGBN

__all__ = ["Corpus", "GeneralizedGBN", "UserInputError"]
__version__ = "0.1.0"
