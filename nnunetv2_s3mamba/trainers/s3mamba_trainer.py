"""`S3MambaTrainerBase`: nnU-Net's own trainer with the S3-Mamba network and the paper's optimiser.

Everything nnU-Net does (data loading, augmentation, foreground oversampling, validation, checkpoints, export)
stays nnU-Net's. This class changes only what the paper or the network require:

- the network (`build_network_architecture`, a classmethod so that each variant's class attributes reach the
  builder at inference, where nnU-Net calls it on the class, never on an instance);
- patch sizes that the network's 4x patch embedding and three 2x merges divide (multiples of 32), written into
  the plans before nnU-Net reads them, so the `plans.json` copied to the results folder is what prediction uses;
- deep-supervision scales that match the network's real outputs (1, 1/4, 1/8, ... rather than nnU-Net's pool
  cascade);
- AdamW (fused) + cosine schedule with the paper's initial learning rate 1e-4 (`use_paper_optimizer = False`:
  nnU-Net's SGD and poly schedule, a control);
- bf16 autocast where the GPU supports it, in training and prediction (the selective scan's state is fp32);
- a batch size measured to fit the GPU (the plan's comes from a U-Net memory model; `gpu_memory.py`), or the RAM
  on the CPU (`cpu_memory.py`), the same on every GPU under DDP (`ddp_batch.py`: nnU-Net's batch Dice hangs
  otherwise), and never above a variant's `max_batch_size`;
- a progress line inside long epochs (`progress.py`: nnU-Net logs only between epochs);
- a clear error naming the channels and files when an image has the wrong channel count (`input_channels.py`:
  the channel names travel in the plans, which is all nnU-Net gives the network builder at prediction);
- `-pretrained_weights` checked before nnU-Net loads it (`check_pretrained_weights_argument`): nnU-Net's loader
  reads only nnU-Net checkpoints and fails on a VMamba file with a bare `KeyError: 'network_weights'`; the trainer
  refuses such a file with the `s3mamba pretrained convert` command that makes a loadable one
  (architectures/pretrained_checkpoint.py says why conversion is needed) and names the first mismatched keys of any other;
- under DDP, TCMA's batch norms normalise per GPU instead of nnU-Net's SyncBatchNorm (`ddp_norm.py`: the sync
  stalls every step and gains nothing at these sample counts);
- `torch.compile` as nnU-Net decides it (on for CUDA training unless `nnUNet_compile` says no), except that without
  an explicit `nnUNet_compile` it stays off where the scan runs in PyTorch. Both GPU scans run as custom operators
  inside one compiled graph (`ops/mamba_ssm_scan.py`, `ops/triton_scan.py`), so compiling pays for itself within
  a few epochs (docs/BENCHMARKS.md). The PyTorch
  scan stays outside compiled graphs (`torch.compiler.disable`: its loops over steps and chunks would unroll), so
  a compiled network breaks at every SS2D there; that path has never been timed compiled.

Variants are rows of `registry.py` that change class attributes (built in `variants/`); class names are a
permanent API because nnU-Net stores them in checkpoints and result folder names.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Sequence

import torch
from torch import nn
from torch._dynamo import OptimizedModule
from torch.optim.lr_scheduler import _LRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager

from nnunetv2_s3mamba.architectures import build_s3mamba
from nnunetv2_s3mamba.architectures.pretrained_checkpoint import check_nnunet_pretrained, convert_command
from nnunetv2_s3mamba.ops import resolve_scan_backend
from nnunetv2_s3mamba.trainers.ddp_batch import DDPEvenBatchMixin, smallest_over_ranks
from nnunetv2_s3mamba.trainers.ddp_norm import unsync_batch_norms
from nnunetv2_s3mamba.trainers.cpu_memory import fit_batch_size_on_cpu
from nnunetv2_s3mamba.trainers.gpu_memory import batch_size_message, fit_batch_size
from nnunetv2_s3mamba.trainers.input_channels import check_input_channels, record_input_files
from nnunetv2_s3mamba.trainers.progress import EpochProgressMixin
from nnunetv2_s3mamba.trainers.schedule import CosineLRScheduler, apply_class_schedule

NETWORK_DIVISOR = 32


def round_patch_size_up(patch_size: list[int], divisor: int = NETWORK_DIVISOR) -> list[int]:
    """Smallest patch at least as large as `patch_size` whose sides the network divides."""
    return [int(math.ceil(side / divisor) * divisor) for side in patch_size]


def _with_network_patch_size(plans: dict, configuration: str) -> dict:
    """Write a network-compatible patch size into `plans` (in place) and return it.

    The resolved configuration may inherit `patch_size`; writing the key on the configuration itself overrides
    the inherited value without touching other configurations.
    """
    if configuration not in plans["configurations"]:
        raise RuntimeError(
            f"Configuration '{configuration}' is not in the plans (available: {list(plans['configurations'])}). "
            "S3-Mamba trains nnU-Net's '2d' configuration: run `nnUNetv2_plan_and_preprocess -d ID -c 2d`."
        )
    patch_size = PlansManager(plans).get_configuration(configuration).patch_size
    if len(patch_size) != 2:
        raise RuntimeError(
            f"S3-Mamba is a 2D network but configuration '{configuration}' has a {len(patch_size)}D patch "
            f"{list(patch_size)}. Train the '2d' configuration (3D volumes are then trained slice by slice): "
            "nnUNetv2_train DATASET 2d FOLD -tr S3MambaTrainer"
        )
    plans["configurations"][configuration]["patch_size"] = round_patch_size_up(list(patch_size))
    return plans


def pretrained_weights_argument(argv: Sequence[str] | None = None) -> str | None:
    """The `-pretrained_weights FILE` of this `nnUNetv2_train` command line (sys.argv; DDP's spawned ranks inherit
    it), or None. nnU-Net hands the path only to its own loader, which runs right after `initialize()`, so the
    command line is the one place the trainer can read it from to check the file first."""
    argv = list(sys.argv if argv is None else argv)
    if "--c" in argv or "--val" in argv:  # nnU-Net refuses or ignores the file then
        return None
    for index, token in enumerate(argv):
        if token == "-pretrained_weights" and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith("-pretrained_weights="):
            return token.split("=", 1)[1]
    return None


def paper_adamw(network: nn.Module, lr: float, weight_decay: float, fused: bool = True) -> torch.optim.AdamW:
    """AdamW with the paper's settings; no weight decay on norms, biases and the SSM's A_log/D parameters.

    PyTorch's fused implementation: the whole update is one kernel per parameter group instead of a dozen
    per-tensor-list kernels, and with nnU-Net's GradScaler it skips a non-finite step on the GPU, without the
    host round trip the unfused path makes every step (a per-GPU batch of 9 already leaves the GPU waiting for
    the CPU, docs/BENCHMARKS.md). Same update rule, so results do not change beyond rounding. `fused=False`
    (PyTorch's default implementation) exists for the benchmarks' comparison.
    """
    decay, no_decay = [], []
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        is_ssm_constant = name.endswith(("A_logs", "A_log", "Ds", ".D"))
        (no_decay if parameter.ndim <= 1 or is_ssm_constant else decay).append(parameter)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, fused=fused)


def paper_optimizer(network: nn.Module, lr: float, weight_decay: float,
                    epochs: int) -> tuple[torch.optim.AdamW, CosineLRScheduler]:
    """The paper's AdamW (`paper_adamw`) with a cosine schedule over `epochs` nnU-Net epochs, as nnU-Net's
    `configure_optimizers` returns them (nnU-Net steps the schedule once per epoch)."""
    optimizer = paper_adamw(network, lr, weight_decay)
    return optimizer, CosineLRScheduler(optimizer, lr, epochs)


def prefer_bf16_autocast() -> None:
    """Make bf16 the CUDA autocast dtype of this process where the GPU supports it.

    nnU-Net's train/validation steps and its predictor open `torch.autocast('cuda')` without a dtype, so the
    process-wide default decides. bf16 has fp32's range, so activations cannot overflow as in fp16, and it lets SS2D
    and TCMA stay in bf16 (precision.py). Called from the network builder, which nnU-Net runs both in training and in
    `nnUNetv2_predict`, so a model is predicted under the precision it was trained with.
    """
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        torch.set_autocast_dtype("cuda", torch.bfloat16)


class S3MambaTrainerBase(EpochProgressMixin, DDPEvenBatchMixin, nnUNetTrainer):
    """nnU-Net trainer for the S3-Mamba network without the curriculum (`trainers/registry.py` lists the names)."""

    network_preset: str = "vmamba-s"
    network_overrides: dict[str, Any] = {}
    use_encf: bool = True
    use_tcma: bool = True
    epochs: int = 250
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    learning_rate: float = 1e-4
    weight_decay_value: float = 1e-2
    # False: nnU-Net's own optimiser, learning rate, decay and schedule instead of the paper's (the two values above
    # then unused), a control that separates the network from the optimiser (docs/RESULTS.md)
    use_paper_optimizer: bool = True
    # None: the plan's batch (then fitted to the device's memory); a number: at most that many samples in total
    max_batch_size: int | None = None

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        plans = record_input_files(_with_network_patch_size(plans, configuration), dataset_json)
        super().__init__(plans, configuration, fold, dataset_json, device)
        apply_class_schedule(self)
        if self.use_paper_optimizer:
            self.initial_lr = self.learning_rate
            self.weight_decay = self.weight_decay_value

    @classmethod
    def build_network_architecture(cls, plans_manager: PlansManager, configuration_manager: ConfigurationManager,
                                   num_input_channels: int, num_output_channels: int,
                                   enable_deep_supervision: bool = True) -> nn.Module:
        """Build S3-Mamba from the class attributes; the plans only supply channel counts.

        Called by nnU-Net at training (deep supervision on) and at inference (off, then a strict
        `load_state_dict`), so it must not read files or depend on training state.
        """
        prefer_bf16_autocast()
        network = build_s3mamba(cls.network_preset, num_input_channels, num_output_channels,
                                deep_supervision=enable_deep_supervision, use_encf=cls.use_encf,
                                use_tcma=cls.use_tcma, **cls.network_overrides)
        return check_input_channels(network, num_input_channels, plans_manager.plans if plans_manager else None)

    def _unwrapped_network(self) -> nn.Module:
        network = self.network.module if self.is_ddp else self.network
        return network._orig_mod if isinstance(network, OptimizedModule) else network

    def _get_deep_supervision_scales(self) -> list[list[float]] | None:
        if not self.enable_deep_supervision:
            return None
        return [[scale, scale] for scale in self._unwrapped_network().deep_supervision_scales]

    def set_deep_supervision_enabled(self, enabled: bool) -> None:
        self._unwrapped_network().deep_supervision = enabled

    def _do_i_compile(self) -> bool:
        """nnU-Net's rule, except that unasked the PyTorch scan is not compiled (see the module docstring)."""
        nnunet_compiles = super()._do_i_compile()
        if not nnunet_compiles or "nnUNet_compile" in os.environ:
            return nnunet_compiles
        backend = resolve_scan_backend(None, on_cuda=True)
        if backend == "torch":
            self.print_to_log_file("torch.compile is off: the selective scan runs in PyTorch here (neither mamba-ssm "
                                   "nor the Triton kernel can run, or S3MAMBA_SCAN_BACKEND=torch), whose compiled "
                                   "training has not been timed. Set nnUNet_compile=1 to compile anyway.")
            return False
        return True

    def _set_batch_size_and_oversample(self) -> None:
        planned = self.configuration_manager.batch_size
        if self.max_batch_size is not None and planned > self.max_batch_size:
            # as DDPEvenBatchMixin: nnU-Net reads the batch from the configuration; the plans on disk stay untouched
            self.configuration_manager.configuration["batch_size"] = self.max_batch_size
            self.print_to_log_file(f"S3-Mamba: batch size at most {self.max_batch_size} ({type(self).__name__}) "
                                   f"instead of the plan's {planned}")
        super()._set_batch_size_and_oversample()

    def check_pretrained_weights_argument(self, path: str | None = None) -> None:
        """Refuse a `-pretrained_weights` file that nnU-Net's loader cannot load into this network, with the fix."""
        path = pretrained_weights_argument() if path is None else path
        if path is None:
            return
        command = convert_command("vmamba_small_e238_ema.pth", self.plans_manager.dataset_name,
                                  self.configuration_name, type(self).__name__, self.plans_manager.plans_name)
        record = check_nnunet_pretrained(self._unwrapped_network(), path, command)
        if record:
            self.print_to_log_file(f"S3-Mamba: -pretrained_weights {path}: {record.get('loaded_tensors')} tensors "
                                   f"from VMamba checkpoint {record.get('source')} (converted for "
                                   f"{record.get('trainer')}; {record.get('input_channel_adaptation') or 'RGB input'})")

    def initialize(self) -> None:
        super().initialize()
        self.check_pretrained_weights_argument()
        if self.is_ddp:
            replaced = unsync_batch_norms(self.network)
            self.print_to_log_file(f"DDP: {replaced} batch norms normalise per GPU instead of SyncBatchNorm "
                                   "(trainers/ddp_norm.py)")
        input_shape = (self.num_input_channels, *self.configuration_manager.patch_size)
        if self.device.type == "cuda":
            if torch.get_autocast_dtype("cuda") == torch.bfloat16:
                self.print_to_log_file("S3-Mamba: autocast dtype bfloat16 (selective scan state in float32)")
            fitted, details = fit_batch_size(self._unwrapped_network(), self.batch_size, input_shape, self.device)
        elif self.device.type == "cpu":
            fitted, details = fit_batch_size_on_cpu(self._unwrapped_network(), self.batch_size, input_shape)
            if details is None:
                self.print_to_log_file(f"S3-Mamba: batch size {self.batch_size} as planned (the available RAM "
                                       "cannot be read on this system)")
                return
        else:
            return
        self.batch_size = smallest_over_ranks(fitted, self.device)
        self.print_to_log_file(batch_size_message(self.batch_size, details))

    def configure_optimizers(self) -> tuple[torch.optim.Optimizer, _LRScheduler]:
        if not self.use_paper_optimizer:
            return super().configure_optimizers()
        return paper_optimizer(self.network, self.initial_lr, self.weight_decay, self.num_epochs)
