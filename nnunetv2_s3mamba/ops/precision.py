"""Precision islands inside autocast: where the network leaves the autocast dtype, and why.

fp16 has a maximum of 65504: the scan's projections (which feed exp/softplus) and TCMA's triple products overflow
there, so under fp16 autocast those parts run in fp32. bf16 has fp32's exponent range, so under bf16 autocast they
stay in bf16 and use tensor cores and half the memory traffic; the selective scan's recurrence itself runs in fp32
on every backend and under every autocast (`selective_scan.py`).
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast_off", "overflow_safe_autocast", "autocast_is_bf16"]


@torch.compiler.assume_constant_result
def _has_autocast(device_type: str) -> bool:
    """`torch.amp.is_autocast_available` as a constant of a compiled graph: torch 2.11's dynamo cannot trace it and
    broke every compiled SS2D there (measured on an H100: 7 graph breaks in one block, recompile limit reached)."""
    return torch.amp.is_autocast_available(device_type)


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast for `device`; a no-op where the device has no autocast (e.g. "meta", used for FLOP counts)."""
    if _has_autocast(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def autocast_is_bf16(device: torch.device) -> bool:
    """True when autocast is on for `device` and computes in bf16."""
    return (_has_autocast(device.type) and torch.is_autocast_enabled(device.type)
            and torch.get_autocast_dtype(device.type) == torch.bfloat16)


def overflow_safe_autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Keep bf16 autocast (fp32's range: nothing overflows); turn fp16 autocast off (fp32 instead)."""
    return contextlib.nullcontext() if autocast_is_bf16(device) else autocast_off(device)
