"""scikit-learn parameter checks for GeneralizedGBN: the device constraint and errors that name the option."""
from __future__ import annotations

import re
from typing import Any

from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from .errors import UserInputError

CLI_OPTIONS = {"n_layers": "layers", "n_topics": "topics"}
"""Parameters whose command-line option is not the parameter's name with dashes."""


class InvalidParameter(UserInputError, InvalidParameterError):
    """A parameter out of its range: one line naming the option, also scikit-learn's InvalidParameterError."""


class DeviceNames(StrOptions):
    """auto, cpu, cuda, or a numbered CUDA device such as ``cuda:1``."""

    def __init__(self) -> None:
        super().__init__({"auto", "cpu", "cuda"})

    def is_satisfied_by(self, val: Any) -> bool:
        return super().is_satisfied_by(val) or (isinstance(val, str) and re.fullmatch(r"cuda:\d+", val) is not None)

    def __str__(self) -> str:
        return "a str among 'auto', 'cpu', 'cuda' or 'cuda:N'"


def option_name(param: str) -> str:
    """The command-line option of a parameter, without the dashes: n_layers -> layers, gate_max -> gate-max."""
    return CLI_OPTIONS.get(param, param).replace("_", "-")
