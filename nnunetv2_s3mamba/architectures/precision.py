"""fp32 islands inside autocast: the parts of the network that overflow or lose precision in fp16/bf16."""
from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast_off"]


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast for `device`; a no-op where the device has no autocast (e.g. "meta", used for FLOP counts)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()
