"""Batch size from measured memory: the arithmetic here, the probe itself where a GPU exists."""
from __future__ import annotations

import pytest
import torch

from nnunetv2_s3mamba.architectures import build_s3mamba
from nnunetv2_s3mamba.trainers.gpu_memory import batch_size_that_fits, fit_batch_size

GIB = 2 ** 30


def test_linear_memory_model_fills_the_safety_fraction():
    # 1 GiB at batch 1, 1.8 GiB at batch 2 -> 0.8 GiB per sample, 0.2 GiB intercept; 0.5 GiB optimiser state.
    fits = batch_size_that_fits(int(1.0 * GIB), int(1.8 * GIB), int(0.5 * GIB), 20 * GIB, fraction=0.85)
    assert fits == int((20 * 0.85 - 0.5 - 0.2) / 0.8) == 20
    assert 0.5 + 0.2 + fits * 0.8 <= 20 * 0.85 < 0.5 + 0.2 + (fits + 1) * 0.8


def test_never_below_one_sample():
    assert batch_size_that_fits(10 * GIB, 19 * GIB, GIB, 4 * GIB) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the probe measures CUDA memory")
def test_probe_keeps_the_plan_when_it_fits_and_leaves_weights_untouched():
    network = build_s3mamba("small", 3, 2, deep_supervision=True, dims=(8, 16, 32, 64)).cuda()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    batch, details = fit_batch_size(network, 2, (3, 64, 64), torch.device("cuda"))
    assert batch == 2 and details["fits"] >= 2 and details["peak_batch2_GiB"] > details["peak_batch1_GiB"]
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
