"""LDA baselines behind the evaluators' protocol."""
