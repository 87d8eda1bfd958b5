"""A real nnU-Net run with the curriculum: plan/preprocess and train through nnU-Net's own CLIs (CPU, workers on)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cl_builders import write_raw_png_dataset
from nnunet_cli import make_nnunet_env, run_cli

pytestmark = pytest.mark.e2e

DATASET_ID = 971
RADII = [3, 5, 7, 9, 11, 13, 16, 20]
TRAINER = "nnUNetTrainer_CL_test"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cl_e2e")
    env = make_nnunet_env(root)
    env["nnUNet_n_proc_DA"] = "2"
    write_raw_png_dataset(env["nnUNet_raw"], DATASET_ID, RADII)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1"], env)
    run = run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    fold = Path(env["nnUNet_results"]) / f"Dataset{DATASET_ID:03d}_CLDiscs" / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
    return env, fold, run.stdout


def test_training_finished_with_curriculum_outputs(trained):
    _, fold, stdout = trained
    assert (fold / "checkpoint_final.pth").is_file()
    assert (fold / "curriculum_weights.png").stat().st_size > 10_000
    history = json.loads((fold / "curriculum_history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[0]["lambda"] == 1.0 and history[1]["lambda"] < history[0]["lambda"]
    # Easy (large) lesions first, then the focus moves to the small ones. (Not the weight quantiles: with lambda
    # going from 1 to 0 the weights are the rank-normalised difficulties mirrored, often the same sorted values.)
    before, after = history[0]["stratum_mean_weight"], history[1]["stratum_mean_weight"]
    assert before["large"] > before["small"]
    assert after["small"] > before["small"] and after["large"] < before["large"]
    assert all(h["losses_used"] == h["samples_drawn"] > 0 for h in history)
    log = "".join(p.read_text() for p in fold.glob("training_log_*.txt"))
    assert log.count("Curriculum: lambda=") == 2 and log.count("small-lesion share drawn") == 2
    sizes = json.loads((fold / "curriculum_lesion_sizes.json").read_text())["cases"]
    by_radius = {RADII[int(case[4:])]: entry["sizes"][0] for case, entry in sizes.items()}
    assert [by_radius[r] for r in sorted(by_radius)] == sorted(by_radius.values())
    checkpoint = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert checkpoint["curriculum_state"]["history"] == history


def _trainer(env, name, continue_training, monkeypatch):
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer", "nnUNet_compile"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    from nnunetv2.run.run_training import get_trainer_from_args

    return get_trainer_from_args(str(DATASET_ID), "2d", 0, name, continue_training=continue_training,
                                 device=torch.device("cpu"))


def test_continue_restores_curriculum_state(trained, monkeypatch):
    env, fold, _ = trained
    from nnunetv2.run.run_training import maybe_load_checkpoint

    trainer = _trainer(env, TRAINER, True, monkeypatch)
    maybe_load_checkpoint(trainer, True, False)
    trainer.dataloader_train, trainer.dataloader_val = trainer.get_dataloaders()
    saved = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)["curriculum_state"]
    assert trainer.curriculum.state_dict() == saved
    assert np.allclose(trainer.curriculum_loader.sampling_probabilities_now(),
                       trainer.curriculum.sampling_probabilities())


def test_curriculum_off_is_exactly_nnunet(trained, monkeypatch):
    """Same seed, same batch: the `use_curriculum = False` trainer takes nnU-Net's exact step on nnU-Net's loader."""
    env, _, _ = trained
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

    results = []
    for name in ("nnUNetTrainer", "nnUNetTrainer_noCL_test"):
        trainer = _trainer(env, name, False, monkeypatch)
        torch.manual_seed(0)
        trainer.initialize()
        trainer.dataloader_train, trainer.dataloader_val = trainer.get_dataloaders()
        loader = trainer.dataloader_train.data_loader
        assert type(loader) is nnUNetDataLoader and loader.sampling_probabilities is None
        np.random.seed(3)
        torch.manual_seed(3)
        batch = loader.generate_train_batch()
        loss = trainer.train_step(batch)["loss"]
        results.append((list(batch["keys"]), float(loss),
                        torch.cat([p.detach().flatten() for p in trainer.network.parameters()])))
    assert results[0][0] == results[1][0] and results[0][1] == results[1][1]
    assert torch.equal(results[0][2], results[1][2])
