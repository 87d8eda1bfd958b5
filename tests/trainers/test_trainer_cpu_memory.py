"""Batch size capped to the RAM on the CPU: where the available RAM comes from, the rule, and the log line."""
from __future__ import annotations

import torch

from nnunetv2_s3mamba.trainers import cpu_memory
from nnunetv2_s3mamba.trainers.cpu_memory import (CPU_SAFETY_FRACTION, available_ram_bytes,
                                                  fit_batch_size_on_cpu, saved_activation_bytes)
from nnunetv2_s3mamba.trainers.gpu_memory import batch_size_message, batch_size_that_fits

GIB = 2 ** 30
MEMINFO = "MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   16777216 kB\n"


def test_available_ram_is_memavailable_limited_by_the_container():
    assert available_ram_bytes(MEMINFO, None, None) == 16 * GIB
    assert available_ram_bytes(MEMINFO, "max\n", str(GIB)) == 16 * GIB
    assert available_ram_bytes(MEMINFO, str(8 * GIB), str(3 * GIB)) == 5 * GIB
    assert available_ram_bytes(None, str(8 * GIB), str(9 * GIB)) == 0
    assert available_ram_bytes(None, None, None) is None


def test_resenc_sized_plan_is_capped_to_the_ram():
    """Issue 26: a batch of 144 planned for a GPU; 73 MiB per sample and 8 GiB available hold far fewer."""
    per_sample, fixed = 73 * 2 ** 20, 200 * 2 ** 20
    fits = batch_size_that_fits(per_sample, 2 * per_sample, fixed, 8 * GIB, CPU_SAFETY_FRACTION)
    assert fits == int((8 * GIB * CPU_SAFETY_FRACTION - fixed) // per_sample) < 144
    assert fixed + fits * per_sample <= 8 * GIB * CPU_SAFETY_FRACTION < fixed + (fits + 1) * per_sample


def test_log_line_says_what_was_capped_and_why():
    details = {"peak_batch1_GiB": 0.07, "peak_batch2_GiB": 0.14, "free_GiB": 8.0, "fits": 73, "planned": 144,
               "memory": "RAM available"}
    capped = batch_size_message(73, details)
    assert "capped to 73 from the plan's 144" in capped and "8.0 GiB RAM available" in capped
    assert "U-Net GPU memory model" in capped
    assert batch_size_message(144, {**details, "fits": 200}).startswith("S3-Mamba: batch size 144 as planned")


def _tiny_network() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(2, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, 2, 1))


def test_saved_activations_grow_per_sample_and_leave_out_the_weights():
    network = _tiny_network().train()
    one, two = (saved_activation_bytes(network, batch, (2, 16, 16)) for batch in (1, 2))
    per_sample = two - one
    # at least the conv and BN outputs of one sample (8 x 16 x 16 fp32 each) are kept for the backward pass
    assert per_sample >= 2 * 8 * 16 * 16 * 4
    assert one - per_sample < sum(p.numel() * p.element_size() for p in network.parameters())


def test_fit_on_cpu_keeps_weights_and_falls_back_to_the_plan_without_ram_figures(monkeypatch):
    network = _tiny_network()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    monkeypatch.setattr(cpu_memory, "read_available_ram", lambda: 64 * 2 ** 20)
    batch, details = fit_batch_size_on_cpu(network, 10 ** 6, (2, 64, 64))
    assert 1 <= batch == details["fits"] < 10 ** 6 and details["memory"] == "RAM available"
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    monkeypatch.setattr(cpu_memory, "read_available_ram", lambda: None)
    assert fit_batch_size_on_cpu(network, 12, (2, 64, 64)) == (12, None)
