"""The training loop (``trainer``): Adam, KL warm-up, early stopping; CUDA-graph steps, checkpoints and
their RNG state, parameter averaging and multi-GPU data parallelism. The estimator drives it."""
