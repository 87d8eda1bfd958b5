"""nnU-Net's own metrics for the same predictions: its `summary.json`, written beside our report.

Our report adds lesion strata and per-lesion detection; nnU-Net's per-class Dice/IoU (mean over cases, empty
cases NaN and left out) is what nnU-Net papers quote. Computing it with nnU-Net's own
`compute_metrics_on_folder`, on the same folders and the same classes (a region as the tuple of its label ids, as
nnU-Net evaluates regions), lets the two be compared without re-implementing nnU-Net's conventions.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from nnunetv2_s3mamba.conversion.label_files import detect_file_ending, list_cases

NNUNET_SUMMARY = "summary.json"


def write_nnunet_summary(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike,
                         classes: Mapping[str, tuple[int, ...]], out_dir: str | os.PathLike,
                         ignore_label: int | None = None, num_processes: int | None = None) -> Path | None:
    """nnU-Net's summary.json for `classes` (name -> label ids) in `out_dir`; None when there is no class.

    nnU-Net reads every prediction file of `pred_dir` and its namesake in `gt_dir`. `num_processes` None takes
    nnU-Net's default (`nnUNet_def_n_proc`), at most one process per case (each is a spawned interpreter).
    """
    from nnunetv2.configuration import default_num_processes
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_file_ending

    if not classes:
        return None
    ending = detect_file_ending(Path(gt_dir))
    cases = list_cases(Path(gt_dir), ending)
    example = next(iter(cases.values()))
    reader = determine_reader_writer_from_file_ending(ending, str(example), allow_nonmatching_filename=True,
                                                      verbose=False)()
    labels_or_regions = [ids[0] if len(ids) == 1 else tuple(ids) for ids in classes.values()]
    out_file = Path(out_dir) / NNUNET_SUMMARY
    out_file.parent.mkdir(parents=True, exist_ok=True)
    compute_metrics_on_folder(str(gt_dir), str(pred_dir), str(out_file), reader, ending, labels_or_regions,
                              ignore_label, min(num_processes or default_num_processes, len(cases)))
    return out_file
