"""s3mamba analyze speck-distances (analysis/speck_distances.py): which specks sit next to lesions and which stand alone."""
import numpy as np

from nnunetv2_s3mamba.analysis.speck_distances import speck_distances


def test_specks_are_measured_from_lesions_and_predicted_lesions_only():
    gt = np.zeros((40, 60), bool)
    gt[5:15, 5:15] = True
    pred = np.zeros_like(gt)
    pred[5:15, 5:15] = True           # the lesion, found
    pred[5, 17] = True                # a speck 3 px right of the lesion's edge (column 14)
    pred[30, 50] = True               # a speck far from everything...
    pred[30:34, 40:44] = True         # ...but 7 px from this predicted component of lesion size (16 px)
    pred[14, 15] = True               # touches the predicted lesion: part of its component, not a speck
    found = sorted(speck_distances(pred, gt, min_size=10))
    assert found == [(1, 3.0), (1, 7.0)]
    assert speck_distances(pred, gt, min_size=1) == []  # every component is then a lesion-sized one
