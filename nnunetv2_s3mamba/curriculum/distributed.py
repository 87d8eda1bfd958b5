"""Rank synchronisation for the curriculum: every DDP rank must apply the same weight update.

Each rank sees different samples; gathering all (row, loss) observations and letting every rank run the same
deterministic update keeps the weights identical without broadcasting them.
"""
from __future__ import annotations

from typing import Any

import torch.distributed as dist


def gather_from_all_ranks(payload: Any) -> list:
    """[payload of rank 0, rank 1, ...] under torch.distributed, else [payload]. Collective: call on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return [payload]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, payload)
    return gathered
