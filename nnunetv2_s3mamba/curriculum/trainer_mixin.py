"""`CurriculumMixin`: the regularized curriculum attached to any nnU-Net trainer.

Use it first in the bases: `class X(CurriculumMixin, nnUNetTrainer)`. With `use_curriculum = False` every
override hands straight to the trainer underneath, so the trainer behaves exactly as without the mixin.

Which labels are lesions (the Difficulty Measurer's sizes): `S3MAMBA_LESION_LABELS` (names or ids of dataset.json
`labels`, comma-separated; unset = every foreground label), read and checked when the trainer is built, so an
unknown name fails before any preprocessing or training, and logged once.

One training epoch with the curriculum on:
  on_train_epoch_start  the Training Scheduler's sampling probabilities go into the loader's shared array
                        (worker processes read it), and a log line states lambda and the weight spread;
  train_step            nnU-Net's own step and loss, unchanged; the loss is wrapped (`SampleLossRecorder`) so that
                        per-sample losses of the drawn keys reach the Difficulty Measurer and a non-finite loss
                        changes no weight;
  on_train_epoch_end    all ranks' records are gathered and every rank applies the same update; the history
                        JSON and the weight plot are rewritten in the output folder.
Checkpoints carry the state under 'curriculum_state', so `--c` resumes the same weights and lambda.
"""
from __future__ import annotations

import os
from typing import List, Optional, Union

import numpy as np
import torch

from nnunetv2_s3mamba.curriculum.data_loader import CurriculumDataLoader, nnunet_train_loader, replace_train_loader
from nnunetv2_s3mamba.curriculum.lesion_size import build_sample_table
from nnunetv2_s3mamba.curriculum.regularized_curriculum import CurriculumConfig, RegularizedCurriculum
from nnunetv2_s3mamba.curriculum.report import plot_weight_history, write_history
from nnunetv2_s3mamba.curriculum.loss_recorder import SampleLossRecorder
from nnunetv2_s3mamba.data.lesion_labels import LESION_LABELS_ENV, LesionLabels, resolve_lesion_labels

LESION_SIZE_CACHE = "curriculum_lesion_sizes.json"
CHECKPOINT_KEY = "curriculum_state"


class CurriculumMixin:
    """Regularized curriculum learning (paper eqs. 6-7) for an nnU-Net trainer; see the module docstring."""

    use_curriculum: bool = True
    curriculum_config: CurriculumConfig = CurriculumConfig()

    curriculum: Optional[RegularizedCurriculum] = None
    curriculum_loader: Optional[CurriculumDataLoader] = None
    lesion_labels: LesionLabels = LesionLabels()
    _pending_curriculum_state: Optional[dict] = None

    def initialize(self) -> None:
        # Not __init__: nnU-Net records its trainers' __init__ arguments by name (inspect.signature + locals()),
        # so a mixin's __init__ must keep nnU-Net's exact signature. initialize() runs before any data is loaded.
        if self.use_curriculum and not self.was_initialized:
            self.lesion_labels = resolve_lesion_labels(os.environ.get(LESION_LABELS_ENV), self.dataset_json["labels"])
            self.print_to_log_file(f"Curriculum: lesion sizes count {self.lesion_labels.describe()} "
                                   f"({LESION_LABELS_ENV}={os.environ.get(LESION_LABELS_ENV, '')!r})")
        super().initialize()

    def get_dataloaders(self):
        dataloader_train, dataloader_val = super().get_dataloaders()
        if not self.use_curriculum:
            return dataloader_train, dataloader_val
        table = build_sample_table(nnunet_train_loader(dataloader_train)._data, self.lesion_labels,
                                   os.path.join(self.output_folder, LESION_SIZE_CACHE),
                                   write_cache=self.local_rank == 0)
        self.curriculum = RegularizedCurriculum(table, self.curriculum_config)
        if self._pending_curriculum_state is not None:
            self.curriculum.load_state_dict(self._pending_curriculum_state)
            self._pending_curriculum_state = None
        dataloader_train, self.curriculum_loader = replace_train_loader(
            dataloader_train, table, self.label_manager, self.probabilistic_oversampling)
        self.curriculum_loader.set_sampling_probabilities(self.curriculum.sampling_probabilities())
        n_small = int(self.curriculum.small.sum())
        self.print_to_log_file(f"Curriculum: {len(table)} training samples from {len(set(table.case_ids))} cases, "
                               f"{int((table.lesion_sizes == 0).sum())} without lesion, {n_small} small-lesion "
                               f"samples; lesion sizes cached in {LESION_SIZE_CACHE}")
        return dataloader_train, dataloader_val

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.use_curriculum:
            self.curriculum_loader.set_sampling_probabilities(self.curriculum.sampling_probabilities())
            self.print_to_log_file(self.curriculum.summary_line())

    def _build_loss(self):
        loss = super()._build_loss()
        if not self.use_curriculum:
            return loss
        return SampleLossRecorder(loss, self.label_manager.has_regions, self.label_manager.ignore_label)

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's own train step; the loss wrapper supplies per-sample losses and the non-finite skip."""
        result = super().train_step(batch)
        if not self.use_curriculum:
            return result
        if self.loss.skipped:
            self.curriculum.record_step(batch["keys"], None)
            self.print_to_log_file(f"Curriculum: non-finite training loss in epoch {self.current_epoch}; no weight "
                                   "was changed by this step and its samples' losses are not used")
            return {"loss": np.array(np.nan)}
        self.curriculum.record_step(batch["keys"], self.loss.sample_losses.cpu().numpy())
        return result

    def on_train_epoch_end(self, train_outputs: List[dict]) -> None:
        if not self.use_curriculum:
            return super().on_train_epoch_end(train_outputs)
        finite_outputs = [o for o in train_outputs if np.all(np.isfinite(o["loss"]))]
        super().on_train_epoch_end(finite_outputs or train_outputs)
        entry = self.curriculum.end_epoch(self.current_epoch, self.num_epochs)
        self.print_to_log_file(
            f"Curriculum: epoch {entry['epoch']} used {entry['losses_used']} per-sample losses "
            f"(skipped steps: {entry['skipped_steps']}), small-lesion share drawn {entry['small_share_drawn']:.3f} "
            f"(expected {entry['small_share_expected']:.3f}), mean sample loss {entry['mean_sample_loss']:.4f}, "
            f"loss stable: {entry['loss_stable']}, next lambda {entry['next_lambda']:.3f}")
        if self.local_rank == 0:
            write_history(self.curriculum.history, self.output_folder)
            plot_weight_history(self.curriculum.history, self.output_folder)

    def save_checkpoint(self, filename: str) -> None:
        super().save_checkpoint(filename)
        state = self.curriculum.state_dict() if self.curriculum is not None else self._pending_curriculum_state
        if not self.use_curriculum or state is None or self.local_rank != 0 or self.disable_checkpointing:
            return
        # nnU-Net builds its checkpoint dict inline; add our key to the file it wrote, atomically.
        checkpoint = torch.load(filename, map_location="cpu", weights_only=False)
        checkpoint[CHECKPOINT_KEY] = state
        tmp = f"{filename}.tmp{os.getpid()}"
        torch.save(checkpoint, tmp)
        os.replace(tmp, filename)

    def load_checkpoint(self, filename_or_checkpoint: Union[dict, str]) -> None:
        """nnU-Net 2.8.1's load_checkpoint(dict) is broken, so read our key here and pass the path on."""
        state = None
        if self.use_curriculum:
            checkpoint = torch.load(filename_or_checkpoint, map_location="cpu", weights_only=False) \
                if isinstance(filename_or_checkpoint, str) else filename_or_checkpoint
            state = checkpoint.get(CHECKPOINT_KEY)
        super().load_checkpoint(filename_or_checkpoint)
        if not self.use_curriculum:
            return
        if state is None:
            self.print_to_log_file("Curriculum: the checkpoint has no curriculum state; the curriculum restarts "
                                   "from the lesion-size prior")
        elif self.curriculum is None:
            self._pending_curriculum_state = state
        else:
            self.curriculum.load_state_dict(state)
            self.curriculum_loader.set_sampling_probabilities(self.curriculum.sampling_probabilities())
