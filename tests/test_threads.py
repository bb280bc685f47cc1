"""OpenMP's wait policy set at ``import deepgbn_text`` (deepgbn_text/threads.py): set when the user has not
chosen, kept when they have, and read by libgomp when torch loads."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from deepgbn_text import threads

PRINT_POLICY = "import deepgbn_text, os; print(os.environ.get('OMP_WAIT_POLICY'))"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh process whose environment has no OpenMP wait settings but ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in (*threads.USER_VARIABLES, "OMP_DISPLAY_ENV")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120, check=True)


def test_a_fresh_import_sets_the_policy_before_torch_loads_libgomp() -> None:
    done = run_python(PRINT_POLICY, OMP_DISPLAY_ENV="VERBOSE")
    assert done.stdout.split() == [threads.WAIT_POLICY]
    # libgomp prints its settings when it loads (at `import torch`): passive threads spin 0 rounds,
    # where the unset default spins 300000 (it displays OMP_WAIT_POLICY as PASSIVE in both cases)
    assert "GOMP_SPINCOUNT = '0'" in done.stderr


@pytest.mark.parametrize("variable, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "10000")])
def test_a_users_own_setting_is_kept(variable: str, value: str) -> None:
    code = PRINT_POLICY + f"; print(os.environ['{variable}'])"
    expected_policy = value if variable == "OMP_WAIT_POLICY" else "None"
    assert run_python(code, **{variable: value}).stdout.split() == [expected_policy, value]


def test_nothing_is_set_when_torch_was_imported_first() -> None:
    done = run_python("import torch, os; import deepgbn_text.threads as t; "
                      "print(os.environ.get('OMP_WAIT_POLICY'), t.APPLIED)")
    assert done.stdout.split() == ["None", "False"]


def test_configure_decides_from_the_environment_and_the_loaded_modules() -> None:
    environ: dict[str, str] = {}
    assert threads.configure(environ, {}) is True
    assert environ == {"OMP_WAIT_POLICY": threads.WAIT_POLICY}
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "0"}):
        environ = dict(chosen)
        assert threads.configure(environ, {}) is False and environ == chosen
    environ = {}
    assert threads.configure(environ, {"torch": object()}) is False and environ == {}


FIT = """
import hashlib, torch
torch.set_num_threads(2)
from deepgbn_text import GeneralizedGBN
from tests.conftest import synthetic_counts
counts = synthetic_counts()
model = GeneralizedGBN(n_topics=[8, 4], n_layers=2, hidden=32, epochs=2, batch_size=64, seed=0, device="cpu")
model.fit(counts, [f"w{i}" for i in range(counts.shape[1])])
digest = hashlib.sha256()
for name, tensor in sorted(model.module_.state_dict().items()):
    digest.update(name.encode()); digest.update(tensor.detach().cpu().numpy().tobytes())
print(digest.hexdigest())
"""


def test_the_wait_policy_does_not_change_the_model() -> None:
    """Same seed, same 2 threads: a bit-identical model whether the threads spin (libgomp's default) or sleep."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = f"import sys; sys.path.insert(0, {root!r})\n" + FIT  # imports torch first: the policy stays as given
    spinning, passive = run_python(code).stdout, run_python(code, OMP_WAIT_POLICY="PASSIVE").stdout
    assert spinning == passive and len(spinning.strip()) == 64


def test_cpu_training_uses_one_thread_unless_the_user_says():
    import torch

    from deepgbn_text.threads import CPU_TRAINING_THREADS, training_threads

    before = torch.get_num_threads()
    with training_threads("cpu", environ={}):
        assert torch.get_num_threads() == CPU_TRAINING_THREADS
    assert torch.get_num_threads() == before
    with training_threads("cpu", environ={"OMP_NUM_THREADS": "2"}):
        assert torch.get_num_threads() == before
    with training_threads("cuda", environ={}):
        assert torch.get_num_threads() == before
