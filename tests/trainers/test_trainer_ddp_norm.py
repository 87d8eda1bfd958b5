"""Per-GPU batch norm under DDP (ddp_norm.py): nnU-Net's SyncBatchNorm conversion undone on the real network, and
two gloo processes training it through torch's DDP with the norms swapped after DDP was built, as in the trainer.
(DDP refuses to wrap SyncBatchNorm on CPU modules, so here DDP wraps the network first and the conversion and its
undoing follow in place; on GPUs nnU-Net converts first. Either way DDP keeps the same parameter tensors.)"""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from nnunetv2_s3mamba.architectures import build_s3mamba
from nnunetv2_s3mamba.trainers.ddp_norm import PerRankBatchNorm, unsync_batch_norms

TINY = dict(dims=(4, 8, 16, 32), depths=(1, 1, 1, 1), decoder_depths=(1, 1, 1, 1), d_state=4, drop_path_rate=0.0)


def _network() -> nn.Module:
    torch.manual_seed(0)
    return build_s3mamba("small", 3, 2, True, **TINY)


def test_replaces_every_sync_batch_norm_with_the_same_tensors():
    network = nn.SyncBatchNorm.convert_sync_batchnorm(_network())
    syncs = {name: m for name, m in network.named_modules() if isinstance(m, nn.SyncBatchNorm)}
    assert len(syncs) == 12, "TCMA's three embedding norms and three levels x three patch-size MLPs"
    tensors = {name: (m.weight, m.running_mean) for name, m in syncs.items()}
    keys = list(network.state_dict())
    assert unsync_batch_norms(network) == 12
    modules = dict(network.named_modules())
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in modules.values())
    for name, (weight, running_mean) in tensors.items():
        assert isinstance(modules[name], PerRankBatchNorm)
        assert modules[name].weight is weight and modules[name].running_mean is running_mean
    assert list(network.state_dict()) == keys, "checkpoints must keep their keys"


def test_normalises_like_batch_norm():
    reference = nn.BatchNorm2d(4)
    local = nn.Sequential(nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(4)))
    unsync_batch_norms(local)
    x = torch.randn(3, 4, 5, 6) * 3 + 1
    torch.testing.assert_close(local(x), reference(x))
    torch.testing.assert_close(local[0].running_var, reference.running_var)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        local(torch.randn(4))


def _rank_main(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        network = DDP(_network())
        nn.SyncBatchNorm.convert_sync_batchnorm(network.module)            # in place below the root
        assert unsync_batch_norms(network) == 12
        optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
        torch.manual_seed(10 + rank)                                        # each rank its own batch
        for _ in range(2):
            x = torch.randn(2, 3, 64, 64)
            target = (torch.rand(2, 64, 64) > 0.7).long()
            loss = F.cross_entropy(network(x)[0], target)                   # SyncBatchNorm raises on CPU tensors
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        torch.save({"state": network.module.state_dict(), "loss": loss.item()}, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_train_with_per_rank_norms_and_stay_identical(tmp_path):
    torch_mp.spawn(_rank_main, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    assert ranks[0]["loss"] != ranks[1]["loss"], "the ranks must have seen different batches"
    for key, value in ranks[0]["state"].items():
        if "running_" in key or "num_batches_tracked" in key:
            continue  # per-rank statistics of the last step; DDP broadcasts rank 0's at the next forward
        torch.testing.assert_close(ranks[1]["state"][key], value, msg=f"{key} differs between the ranks")
    running = [k for k in ranks[0]["state"] if k.endswith("running_mean")]
    assert running and any(not torch.equal(ranks[0]["state"][k], ranks[1]["state"][k]) for k in running), \
        "each rank must have normalised with its own batch statistics"
