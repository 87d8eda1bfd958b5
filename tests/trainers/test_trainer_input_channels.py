"""A wrong channel count stops the network with the channels and files to check (not a shape assertion)."""
from __future__ import annotations

import copy
import pickle

import pytest
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.trainers.input_channels import PLANS_KEY, InputChannelsError, record_input_files
from plans import make_plans

DATASET_JSON = {"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "lesion": 1},
                "numTraining": 2, "file_ending": ".nii.gz"}


class Tiny(trainers.S3MambaTrainer_baseline):
    network_preset = "small"
    network_overrides = {"dims": (8, 16, 32, 64)}


def _plans(reader: str = "SimpleITKIO") -> PlansManager:
    plans = make_plans({"2d": {"patch_size": [64, 64], "batch_size": 2, "data_identifier": "nnUNetPlans_2d"}})
    plans["image_reader_writer"] = reader
    return PlansManager(record_input_files(plans, DATASET_JSON))


def _network(plans_manager: PlansManager | None, channels: int = 2) -> torch.nn.Module:
    return Tiny.build_network_architecture(plans_manager, None, channels, 2, enable_deep_supervision=False).eval()


def test_missing_channel_file_names_channels_and_suffixes():
    network = _network(_plans())
    with pytest.raises(InputChannelsError) as error, torch.no_grad():
        network(torch.randn(1, 1, 64, 64))
    message = str(error.value)
    assert isinstance(error.value, UserError) and isinstance(error.value, ValueError)
    assert "trained on 2 input channel(s) (0: T2, 1: ADC" in message and "this image has 1" in message
    assert "CASE_0000.nii.gz, CASE_0001.nii.gz" in message and "'Predicting ...' line" in message


def test_natural_images_point_at_the_colour_mode():
    network = _network(_plans("NaturalImage2DIO"), channels=3)
    with pytest.raises(InputChannelsError, match="RGBA 4") as error, torch.no_grad():
        network(torch.randn(1, 4, 64, 64))
    assert "this image has 4" in str(error.value)


def test_models_without_recorded_names_still_say_what_to_check():
    plans = copy.deepcopy(_plans().plans)
    del plans[PLANS_KEY]
    for plans_manager in (PlansManager(plans), None):
        with pytest.raises(InputChannelsError, match=r"trained on 2 input channel\(s\) but this image has 3"), \
                torch.no_grad():
            _network(plans_manager)(torch.randn(1, 3, 64, 64))


def test_the_check_changes_no_weights_or_outputs_and_pickles():
    checked = _network(_plans())
    x = torch.randn(1, 2, 64, 64)
    restored = pickle.loads(pickle.dumps(checked))
    assert restored.state_dict().keys() == checked.state_dict().keys()
    with pytest.raises(InputChannelsError):
        restored(torch.randn(1, 1, 64, 64))
    with torch.no_grad():
        out = checked(x)
        checked._forward_pre_hooks.clear()
        assert torch.equal(out, checked(x))


def test_trainer_writes_the_channel_names_into_the_plans_it_saves(tmp_path, monkeypatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    plans = make_plans({"2d": {"patch_size": [64, 64], "batch_size": 2, "data_identifier": "nnUNetPlans_2d"}})
    trainer = Tiny(plans, "2d", 0, DATASET_JSON, torch.device("cpu"))
    assert trainer.plans_manager.plans[PLANS_KEY] == {"channel_names": {"0": "T2", "1": "ADC"},
                                                      "file_ending": ".nii.gz"}
