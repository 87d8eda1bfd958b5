"""Curriculum state survives checkpoints exactly and is identical on every DDP rank."""
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp

from nnunetv2_s3mamba.curriculum.lesion_size import SampleTable
from nnunetv2_s3mamba.curriculum.regularized_curriculum import RegularizedCurriculum

SIZES = np.array([0, 12, 40, 90, 160, 250, 360, 490, 640, 810])


def make_table():
    n = len(SIZES)
    ids = tuple(f"c{i}" for i in range(n))
    return SampleTable(ids, ids, np.zeros(n, int), SIZES, np.ones(n, int))


def run_epochs(curriculum, epochs, rng, start=0, num_epochs=12):
    for epoch in range(start, start + epochs):
        for _ in range(5):
            keys = rng.choice(curriculum.table.sample_ids, 4)
            curriculum.record_step(list(keys), rng.normal(1.0, 0.3, 4))
        curriculum.end_epoch(epoch, num_epochs, gather=lambda x: [x])


def test_resume_restores_state_exactly(tmp_path):
    original = RegularizedCurriculum(make_table())
    run_epochs(original, 4, np.random.default_rng(0))
    path = str(tmp_path / "checkpoint.pth")
    torch.save({"curriculum_state": original.state_dict()}, path)

    resumed = RegularizedCurriculum(make_table())
    resumed.load_state_dict(torch.load(path, weights_only=False)["curriculum_state"])
    assert np.array_equal(resumed.weights(), original.weights())
    assert resumed.scheduler.lam == original.scheduler.lam and resumed.history == original.history
    # continuing both with the same observations keeps them identical
    run_epochs(original, 3, np.random.default_rng(1), start=4)
    run_epochs(resumed, 3, np.random.default_rng(1), start=4)
    assert np.array_equal(resumed.weights(), original.weights())
    assert resumed.state_dict() == original.state_dict()


def test_state_from_other_training_set_is_refused():
    state = RegularizedCurriculum(make_table()).state_dict()
    other = RegularizedCurriculum(SampleTable(("x",), ("x",), np.zeros(1, int), np.ones(1, int), np.ones(1, int)))
    with pytest.raises(ValueError, match="different training samples"):
        other.load_state_dict(state)


def _rank_main(rank, world_size, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        curriculum = RegularizedCurriculum(make_table())
        rng = np.random.default_rng(100 + rank)  # every rank sees different samples and losses
        run_local = lambda epoch: [curriculum.record_step(list(rng.choice(curriculum.table.sample_ids, 3)),
                                                          rng.normal(1.0 + rank, 0.5, 3)) for _ in range(4)]
        for epoch in range(3):
            run_local(epoch)
            curriculum.end_epoch(epoch, 6)  # default gather: torch.distributed all_gather_object
        np.save(os.path.join(out_dir, f"weights{rank}.npy"), curriculum.weights())
        np.save(os.path.join(out_dir, f"seen{rank}.npy"), curriculum.measurer.seen)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_hold_identical_weights(tmp_path):
    torch_mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    w0, w1 = np.load(tmp_path / "weights0.npy"), np.load(tmp_path / "weights1.npy")
    assert np.array_equal(w0, w1)
    seen = np.load(tmp_path / "seen0.npy")
    assert seen.sum() == 2 * 3 * 4 * 3  # both ranks' observations were used
    assert not np.allclose(w0, RegularizedCurriculum(make_table()).weights())
