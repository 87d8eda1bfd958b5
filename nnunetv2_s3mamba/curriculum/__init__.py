"""Regularized curriculum learning (paper eqs. 6-7, Fig. 2e) for nnU-Net: Difficulty Measurer, Training
Scheduler, the data loader that samples by their weights, and the trainer mixin that ties them together.

Read in this order: `lesion_size` (what a sample is and how big its lesion is), `difficulty_measurer`,
`training_scheduler` (the well-posed objective), `regularized_curriculum`, `data_loader`, `trainer_mixin`.
"""
from nnunetv2_s3mamba.curriculum.data_loader import CurriculumDataLoader, SliceSampleDataset
from nnunetv2_s3mamba.curriculum.difficulty_measurer import DifficultyMeasurer, normalised_rank, size_difficulty
from nnunetv2_s3mamba.curriculum.lesion_size import SampleTable, build_sample_table, count_lesion_pixels
from nnunetv2_s3mamba.curriculum.regularized_curriculum import CurriculumConfig, RegularizedCurriculum
from nnunetv2_s3mamba.curriculum.sample_loss import per_sample_loss
from nnunetv2_s3mamba.curriculum.trainer_mixin import CurriculumMixin
from nnunetv2_s3mamba.curriculum.training_scheduler import (TrainingScheduler, regularized_objective,
                                                            solve_sample_weights)

__all__ = [
    "CurriculumConfig", "CurriculumDataLoader", "CurriculumMixin", "DifficultyMeasurer", "RegularizedCurriculum",
    "SampleTable", "SliceSampleDataset", "TrainingScheduler", "build_sample_table", "count_lesion_pixels",
    "normalised_rank", "per_sample_loss", "regularized_objective", "size_difficulty", "solve_sample_weights",
]
