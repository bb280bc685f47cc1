"""Fault injection through the command line: a fit killed with SIGKILL at a random moment, or stopped
with Ctrl-C, resumes to the same model as an uninterrupted run; data-parallel training under torchrun
(gloo, two processes on this machine) matches one process and writes its outputs once."""
from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs_compiler
from safetensors.torch import load_file

from deepgbn_text.corpora import sample_path
from deepgbn_text.text import TextOptions, build_corpus

FIT = ["--format", "corpus", "--layers", "2", "--topics", "16,8", "--hidden", "32", "--epochs", "20",
       "--batch-size", "32", "--device", "cpu", "--seed", "1", "--checkpoint-every", "3",
       "--upper-start", "random", "--deep-kl-warmup", "0.1", "--balanced-links"]
"""A tiny fit whose seeds span 514-594 in validation perplexity: the two-process fit's 3% agreement with the one-process
fit holds for these links, start and warm-up (the defaults before 2026-12-02), and is chance for the partition start
(4% apart), whose ranks DDP syncs anyway."""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    lines = gzip.open(sample_path("20news-sample"), "rt", encoding="utf-8").read().splitlines()[:400]
    folder = tmp_path_factory.mktemp("corpus") / "prepared"
    build_corpus(lines, TextOptions(max_vocab=800)).save(folder)
    return folder


def _fit(prepared: Path, *extra: str, launcher: tuple[str, ...] = (sys.executable, "-m")) -> list[str]:
    return [*launcher, "ggbn_topics", "fit", str(prepared), *FIT, *extra]


@pytest.fixture(scope="module")
def uninterrupted(prepared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "whole"
    subprocess.run(_fit(prepared, "--out", str(out)), env=ENV, check=True, capture_output=True)
    return out


def _start_and_wait_for_checkpoint(command: list[str], out: Path) -> subprocess.Popen:
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    return process


def _same_model(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa)
    ha = [r["val_perplexity"] for r in json.loads((a / "metrics.json").read_text())["history"]]
    hb = [r["val_perplexity"] for r in json.loads((b / "metrics.json").read_text())["history"]]
    assert ha == hb


def test_a_run_killed_at_a_random_moment_resumes_to_the_same_model(prepared, uninterrupted, tmp_path):
    delay = random.Random().uniform(0.0, 1.0)
    out = tmp_path / "killed"
    process = _start_and_wait_for_checkpoint(_fit(prepared, "--out", str(out)), out)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.returncode == 0:
        pytest.skip(f"the run finished before the kill {delay:.2f} s after its first checkpoint")
    assert process.returncode == -signal.SIGKILL
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()
    refused = subprocess.run(_fit(prepared, "--out", str(out)), env=ENV, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = subprocess.run(_fit(prepared, "--resume", str(out)), env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, f"killed {delay:.2f} s after the first checkpoint: {resumed.stderr}"
    _same_model(uninterrupted, out)


def test_ctrl_c_checkpoints_stops_cleanly_and_resumes(prepared, uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    process = _start_and_wait_for_checkpoint(_fit(prepared, "--out", str(out)), out)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "checkpoint written" in stderr and "--resume" in stderr
    assert not (out / "config.json").exists()
    resumed = subprocess.run(_fit(prepared, "--resume", str(out)), env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    _same_model(uninterrupted, out)


def test_torchrun_with_two_gloo_processes_matches_one_process_and_writes_once(prepared, uninterrupted, tmp_path):
    out = tmp_path / "ddp"
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m")
    done = subprocess.run(_fit(prepared, "--out", str(out), launcher=launcher), env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("wrote ") == 1 and done.stdout.count("topic tree") == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["ddp"]
    single = json.loads((uninterrupted / "metrics.json").read_text())["summary"]["val_perplexity"]
    ddp = json.loads((out / "metrics.json").read_text())["summary"]["val_perplexity"]
    assert ddp == pytest.approx(single, rel=0.03)
    assert json.loads((out / "config.json").read_text())["topics"] == [16, 8]


@needs_compiler
def test_torchrun_with_a_compiled_step(prepared, tmp_path):
    short = ("--epochs", "4", "--no-pretrain-bottom")  # the same 4-epoch schedule for both fits
    eager_out, out = tmp_path / "eager", tmp_path / "ddp-compiled"
    subprocess.run(_fit(prepared, "--out", str(eager_out), *short), env=ENV, check=True, capture_output=True)
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m")
    done = subprocess.run(_fit(prepared, "--out", str(out), *short, "--torch-compile", launcher=launcher),
                          env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("wrote ") == 1
    compiled = json.loads((out / "metrics.json").read_text())["history"]
    eager = json.loads((eager_out / "metrics.json").read_text())["history"]
    assert [r["epoch"] for r in compiled] == [r["epoch"] for r in eager] == [1, 2, 3, 4]
    assert compiled[-1]["val_perplexity"] == pytest.approx(eager[-1]["val_perplexity"], rel=0.1)
