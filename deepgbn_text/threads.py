"""How torch's CPU threads wait for each other: OpenMP's wait policy, chosen before torch is imported.

Why. torch's CPU build runs its intra-op threads (2 on a 2-core machine) on GNU OpenMP (libgomp). With
``OMP_WAIT_POLICY`` unset, a libgomp thread that waits for the others (at the end of every parallel
operation, and between operations) spins for about 300,000 rounds, a few milliseconds, before it sleeps.
On an idle machine that makes the many small operations of a training step fast. Beside other busy
programs it is ruinous: when the scheduler takes one of the fit's threads off its core to run another
program, the other thread spins through its own time slice waiting for it, and the fit gets almost
nothing done with the CPU it is given. Issue 15 reported 34 s an epoch against 1.9 s alone (18x) beside
three single-threaded processes on 2 cores, while the fit's process showed 95% of a core.
``benchmarks/shared_cpu.py`` measures a short fit of the default model beside 0, 1 and 3 busy neighbour
processes for each setting; its numbers are in ``benchmarks/results/shared_cpu.json`` and in
``docs/performance.md`` ("Sharing the CPU with other programs").

What. ``import deepgbn_text`` runs :func:`configure` first, before any of its modules imports torch. It
sets ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep at once) in ``os.environ`` when the user has set
neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT``: a setting of the user's is kept as it is. The thread
count is left to torch (``torch.set_num_threads``, ``OMP_NUM_THREADS``).

Limits.

- libgomp reads its environment once, when it is loaded, that is at the first ``import torch`` of the
  process. If the program imported torch (or a package that imports it) before ``deepgbn_text``, the
  setting cannot take effect and nothing is changed (:data:`APPLIED` is then False). Import
  ``deepgbn_text`` first, or set ``OMP_WAIT_POLICY=PASSIVE`` in the shell.
- The variable stays in ``os.environ``, so processes the program starts afterwards inherit it.
- On an idle machine passive threads make small batches slower, because each parallel operation wakes
  the other thread through the kernel: the default model's epoch on 1,000 documents of the sample at
  batch 64 took 0.42 s against 0.20 s on 2 idle cores. Where nothing else runs, set
  ``GOMP_SPINCOUNT=300000`` (libgomp's own default) or ``OMP_WAIT_POLICY=ACTIVE`` in the shell.
- Numerics do not change: the wait policy only decides how idle threads wait, never how work is split,
  so a fit with the same seed and the same number of threads gives a bit-identical model under every
  policy (the number of threads counts as part of the device, as before).
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping

WAIT_POLICY = "PASSIVE"
"""The value given to ``OMP_WAIT_POLICY`` when the user has not chosen how OpenMP threads wait."""

USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
"""Variables that mean the user has chosen: when either is set, nothing is changed."""

APPLIED = False
"""Whether :func:`configure` set ``OMP_WAIT_POLICY`` in this process (at ``import deepgbn_text``)."""


def configure(environ: MutableMapping[str, str] | None = None, modules: Mapping[str, object] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY`` to :data:`WAIT_POLICY` unless the user chose a wait policy or torch is
    already imported (too late for libgomp to read it); return whether it was set."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "torch" in modules or any(name in environ for name in USER_VARIABLES):
        return False
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return True


APPLIED = configure()


CPU_TRAINING_THREADS = 1
"""torch threads while training on a CPU, unless ``OMP_NUM_THREADS`` says otherwise. A step on a batch of 64
documents is hundreds of small operations, too small to share between threads: the Quickstart fit trained
in 57.5 s on one thread against 120.6 s on two passive threads and 98.7 s on two with GOMP_SPINCOUNT=1000
(2 idle cores, 90 epochs each), and one thread kept its fair share beside busy programs
(benchmarks/results/shared_cpu.json)."""


@contextlib.contextmanager
def training_threads(device_type: str, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Train with :data:`CPU_TRAINING_THREADS` torch threads on a CPU (the user's ``OMP_NUM_THREADS``
    wins), and give the previous count back afterwards. The thread count is part of the device: two fits
    with one seed are identical under the same rule, as before."""
    import torch

    environ = os.environ if environ is None else environ
    if device_type != "cpu" or "OMP_NUM_THREADS" in environ:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(CPU_TRAINING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
