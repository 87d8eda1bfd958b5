"""The quickstart (`s3mamba demo`): the main job end to end on a synthetic lesion dataset, through nnU-Net's CLIs."""
from nnunetv2_s3mamba.quickstart.pipeline import (
    DEMO_DATASET_ID, DEMO_TRAINER, MARKER_FILE, QuickstartError, demo_env, prepare_out_dir, run_demo,
)
from nnunetv2_s3mamba.quickstart.steps import StepFailed, run_step

__all__ = ["DEMO_DATASET_ID", "DEMO_TRAINER", "MARKER_FILE", "QuickstartError", "StepFailed", "demo_env",
           "prepare_out_dir", "run_demo", "run_step"]
