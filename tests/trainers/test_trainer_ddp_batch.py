"""Equal per-GPU batches under DDP (ddp_batch.py), with two real gloo processes building the real trainers."""
from __future__ import annotations

import json
import os

import pytest
import torch.distributed as dist
import torch.multiprocessing as torch_mp

from nnunetv2_s3mamba.trainers.ddp_batch import even_global_batch
from plans import make_plans

PLANS = make_plans({"2d": {"patch_size": [64, 64], "batch_size": 5, "data_identifier": "a"}})
DATASET_JSON = {"labels": {"background": 0, "lesion": 1}, "channel_names": {"0": "R"}, "numTraining": 4,
                "file_ending": ".png"}


@pytest.mark.parametrize("planned, world, even", [(19, 2, 18), (18, 2, 18), (5, 4, 4), (1, 2, 2), (26, 3, 24)])
def test_even_global_batch(planned, world, even):
    assert even_global_batch(planned, world) == even


def _rank_main(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        import nnunetv2_s3mamba.trainers as trainers
        from nnunetv2_s3mamba.trainers.ddp_batch import smallest_over_ranks
        import torch
        found = {}
        for name in ("S3MambaTrainer", "nnUNetTrainer_CL"):
            trainer = getattr(trainers, name)(json.loads(json.dumps(PLANS)), "2d", 0, DATASET_JSON)
            trainer._set_batch_size_and_oversample()
            found[name] = {"batch": trainer.batch_size, "plans_batch": trainer.plans_manager.plans[
                "configurations"]["2d"]["batch_size"]}
        found["smallest"] = smallest_over_ranks(3 + rank, torch.device("cpu"))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(found, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_each_rank_gets_the_same_batch(tmp_path, monkeypatch):
    """nnU-Net alone would give 3 and 2 of the plan's 5 (and hang in its batch Dice on GPUs); we give 2 and 2."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(name, str(tmp_path / name))
    torch_mp.spawn(_rank_main, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for name in ("S3MambaTrainer", "nnUNetTrainer_CL"):
        assert [r[name]["batch"] for r in ranks] == [2, 2], name
        assert all(r[name]["plans_batch"] == 5 for r in ranks), "the plans themselves must stay untouched"
    assert [r["smallest"] for r in ranks] == [3, 3]
