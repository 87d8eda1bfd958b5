"""ImageNet start through `nnUNetv2_train -pretrained_weights`: a VMamba-S checkpoint as an nnU-Net checkpoint.

nnU-Net's own loader (`nnunetv2/run/load_pretrained_weights.py`) reads
`torch.load(file)['network_weights']` before it touches the network and the trainer is never given the path, so a
VMamba file cannot pass through it without patching nnU-Net. `s3mamba pretrained convert` therefore writes, once per
dataset and trainer, an nnU-Net-style file: `network_weights` = the state dict of exactly the network the trainer
builds for the plan, VMamba weights mapped in, every other tensor at its fresh initialisation (nnU-Net requires all
keys). `check_nnunet_pretrained` is what the trainer runs on the file before nnU-Net loads it, for clear errors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from nnunetv2_s3mamba.architectures.pretrained import (VMAMBA_WRAPPERS, PretrainedMismatchError,
                                                       load_vmamba_pretrained)
from nnunetv2_s3mamba.errors import UserError

__all__ = ["convert_to_nnunet_checkpoint", "check_nnunet_pretrained", "network_for_dataset", "convert_command",
           "register", "METADATA_KEY"]

# nnU-Net's load_pretrained_weights never transfers keys containing these (its segmentation layers)
NNUNET_SKIPPED_KEY_PARTS = (".seg_layers.",)
METADATA_KEY = "s3mamba_pretrained"


def convert_to_nnunet_checkpoint(net: nn.Module, vmamba_path: Union[str, Path], output: Union[str, Path],
                                 metadata: dict[str, Any] | None = None) -> dict:
    """Load VMamba weights into `net` and write `{'network_weights': net.state_dict()}` to `output`, the format
    nnU-Net's `-pretrained_weights` reads; returns `load_vmamba_pretrained`'s report. Nothing is written on error."""
    report = load_vmamba_pretrained(net, vmamba_path)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {"source": str(Path(vmamba_path).resolve()), "loaded_tensors": len(report["loaded"]),
              "input_channel_adaptation": report["input_channel_adaptation"], **(metadata or {})}
    partial = output.with_name(output.name + ".partial")
    torch.save({"network_weights": {key: value.detach().cpu() for key, value in net.state_dict().items()},
                METADATA_KEY: record}, partial)
    os.replace(partial, output)
    return report


def _load_any(path: Path) -> Any:
    """torch.load as nnU-Net's loader does it (full unpickling), memory-mapped where the format allows."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=False)


def check_nnunet_pretrained(net: nn.Module, path: Union[str, Path], convert_command: str) -> dict:
    """Raise PretrainedMismatchError unless nnU-Net's `load_pretrained_weights` can load `path` into `net`.

    nnU-Net's rule: every key of `net` (but its `.seg_layers.`) is in the file's 'network_weights' with the same
    shape. A VMamba (or other non-nnU-Net) file is refused with `convert_command`, the command that makes one.
    Returns the file's conversion record (empty for a checkpoint nnU-Net wrote).
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedMismatchError(f"-pretrained_weights {path}: no such file.")
    try:
        checkpoint = _load_any(path)
    except Exception as error:
        raise PretrainedMismatchError(f"-pretrained_weights {path} is not a PyTorch checkpoint that torch.load can "
                                      f"read ({type(error).__name__}: {error}).") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("network_weights"), dict):
        keys = list(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        looks_vmamba = isinstance(checkpoint, dict) and (
            any(isinstance(checkpoint.get(w), dict) for w in VMAMBA_WRAPPERS)
            or any(str(k).startswith(("patch_embed.", "layers.")) for k in checkpoint))
        what = "looks like a VMamba (ImageNet) checkpoint" if looks_vmamba else "is not an nnU-Net checkpoint"
        raise PretrainedMismatchError(
            f"-pretrained_weights {path} {what} (top level: {keys}); nnU-Net's -pretrained_weights reads only "
            f"nnU-Net checkpoints (a dict with 'network_weights'). Convert a VMamba-S v0 file once for this "
            f"dataset and trainer:\n    {convert_command}\nand pass the written file to -pretrained_weights.")
    weights = checkpoint["network_weights"]
    ours = net.state_dict()
    needed = [k for k in ours if not any(part in k for part in NNUNET_SKIPPED_KEY_PARTS)]
    missing = [k for k in needed if k not in weights]
    mismatched = [f"{k}: file {tuple(weights[k].shape)}, network {tuple(ours[k].shape)}" for k in needed
                  if k in weights and tuple(weights[k].shape) != tuple(ours[k].shape)]
    record = checkpoint.get(METADATA_KEY) or {}
    if missing or mismatched:
        problems = [f"{len(items)} {title}, first: " + "; ".join(items[:8])
                    for title, items in (("keys of the network missing from the file", missing),
                                         ("shape mismatches", mismatched)) if items]
        origin = (f"it was converted for trainer {record.get('trainer')}, dataset {record.get('dataset')}, "
                  f"configuration {record.get('configuration')}" if record else
                  f"its keys start with {list(weights)[:3]}")
        raise PretrainedMismatchError(
            f"-pretrained_weights {path} does not fit this network ({origin}):\n  " + "\n  ".join(problems)
            + f"\nFor an ImageNet start convert the VMamba file for this dataset and trainer:\n    {convert_command}")
    return record


def network_for_dataset(dataset: str, configuration: str = "2d", trainer: str = "S3MambaTrainer",
                        plans: str = "nnUNetPlans") -> tuple[nn.Module, dict]:
    """The network `nnUNetv2_train DATASET CONFIGURATION FOLD -tr TRAINER -p PLANS` builds (its trainer's
    `build_network_architecture` on the preprocessed plans and dataset.json), and where it came from."""
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnunetv2_s3mamba.architectures.s3mamba_net import S3MambaNet

    preprocessed = os.environ.get("nnUNet_preprocessed")
    if not preprocessed:
        raise UserError("$nnUNet_preprocessed is not set: the network is built from the dataset's plans there.")
    try:
        name = maybe_convert_to_dataset_name(int(dataset) if str(dataset).isdigit() else dataset)
    except RuntimeError as error:
        raise UserError(f"dataset {dataset}: {error}") from error
    folder = Path(preprocessed) / name
    plans_file, dataset_file = folder / f"{plans}.json", folder / "dataset.json"
    if not plans_file.is_file() or not dataset_file.is_file():
        raise UserError(f"{plans_file} or {dataset_file} is missing: run nnUNetv2_plan_and_preprocess -d {dataset} "
                        f"-c {configuration} first.")
    plans_manager = PlansManager(json.loads(plans_file.read_text()))
    dataset_json = json.loads(dataset_file.read_text())
    if configuration not in plans_manager.available_configurations:
        raise UserError(f"configuration {configuration!r} is not in {plans_file} "
                        f"(available: {plans_manager.available_configurations}).")
    try:
        trainer_class = recursive_find_trainer_class_by_name(trainer)
    except RuntimeError as error:
        raise UserError(f"trainer {trainer} not found by nnU-Net's lookup (s3mamba trainers lists ours).") from error
    configuration_manager = plans_manager.get_configuration(configuration)
    num_inputs = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    num_outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    network = trainer_class.build_network_architecture(plans_manager, configuration_manager, num_inputs,
                                                       num_outputs, True)
    if not isinstance(network, S3MambaNet):
        raise UserError(f"trainer {trainer} builds a {type(network).__name__}, not an S3MambaNet: VMamba weights "
                        f"fit S3-Mamba trainers only (s3mamba trainers lists them).")
    return network, {"dataset": name, "configuration": configuration, "trainer": trainer, "plans": plans,
                     "input_channels": num_inputs, "num_classes": num_outputs}


def convert_command(checkpoint: str, dataset: str, configuration: str, trainer: str, plans: str,
                    output: str = "s3mamba_init.pth") -> str:
    """The `s3mamba pretrained convert` line for one training, shown in errors and docs."""
    extra = "" if plans == "nnUNetPlans" else f" -p {plans}"
    return (f"s3mamba pretrained convert {checkpoint} -d {dataset} -c {configuration} -tr {trainer}{extra} "
            f"-o {output}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `pretrained convert` to the `s3mamba` parser."""
    parser = subparsers.add_parser("pretrained", help="ImageNet start: a VMamba-S checkpoint as an nnU-Net "
                                                      "-pretrained_weights file")
    commands = parser.add_subparsers(dest="pretrained_command", required=True)
    convert = commands.add_parser(
        "convert", help="write an nnU-Net -pretrained_weights file from vmamba_small_e238_ema.pth",
        description="Builds the network that nnUNetv2_train -tr TRAINER builds for the dataset's plans, loads the "
                    "VMamba-S v0 ImageNet weights into it (encoder, and the decoder stage of the same width, as "
                    "VM-UNet does) and writes {'network_weights': ...}, which nnUNetv2_train ... -pretrained_weights "
                    "OUTPUT loads with nnU-Net's own loader. Weights the file lacks (EnCF, TCMA, heads) keep their "
                    "fresh initialisation (seeded by --seed).")
    convert.add_argument("checkpoint", help="VMamba-S v0 checkpoint (vmamba_small_e238_ema.pth); nothing is downloaded")
    convert.add_argument("-o", "--output", required=True, help="file to write (e.g. s3mamba_init.pth)")
    convert.add_argument("-d", "--dataset", required=True, help="nnU-Net dataset ID or name (preprocessed)")
    convert.add_argument("-c", "--configuration", default="2d", help="plans configuration (default 2d)")
    convert.add_argument("-tr", "--trainer", default="S3MambaTrainer", help="trainer to train with "
                                                                            "(default S3MambaTrainer)")
    convert.add_argument("-p", "--plans", default="nnUNetPlans", help="plans identifier (default nnUNetPlans)")
    convert.add_argument("--seed", type=int, default=0, help="seed of the weights the file lacks (default 0)")
    convert.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    try:
        torch.manual_seed(args.seed)
        network, where = network_for_dataset(args.dataset, args.configuration, args.trainer, args.plans)
        report = convert_to_nnunet_checkpoint(network, args.checkpoint, args.output, where)
    except (UserError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    skipped = ", ".join(f"{len(keys)} {reason}" for reason, keys in report["skipped"].items()) or "none"
    print(f"{args.output}: {len(report['loaded'])} tensors from {args.checkpoint} for {where['trainer']} on "
          f"{where['dataset']} {where['configuration']} ({where['input_channels']} input channel(s), "
          f"{where['num_classes']} outputs); {len(report['not_initialised_from_file'])} keep their fresh "
          f"initialisation; skipped from the file: {skipped}.")
    if report["input_channel_adaptation"]:
        print(f"input channels: {report['input_channel_adaptation']}")
    print(f"next: nnUNetv2_train {args.dataset} {args.configuration} FOLD -tr {args.trainer}"
          + ("" if args.plans == "nnUNetPlans" else f" -p {args.plans}") + f" -pretrained_weights {args.output}")
    return 0
