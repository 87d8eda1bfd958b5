"""The paper's size-stratified split: 30/30/40 strata, 30% of each to test, seeded; groups; nnU-Net folds."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nnunetv2_s3mamba.conversion import (
    ConversionError, assign_size_strata, cvc_sequence_groups, draw_test_cases, make_stratified_split,
    make_synthetic_lesion_dataset, nnunet_folds, split_raw_dataset,
)


def _counts(n: int) -> dict[str, int]:
    rng = np.random.default_rng(1)
    return {f"case{i:03d}": int(v) for i, v in enumerate(rng.integers(1, 10_000, n))}


def test_strata_are_30_30_40_by_rank():
    counts = _counts(100)
    strata = assign_size_strata(counts)
    by = {s: [c for c in counts if strata.stratum[c] == s] for s in ("small", "medium", "large")}
    assert [len(by[s]) for s in ("small", "medium", "large")] == [30, 30, 40]
    assert max(counts[c] for c in by["small"]) <= min(counts[c] for c in by["medium"])
    assert max(counts[c] for c in by["medium"]) <= min(counts[c] for c in by["large"])
    assert strata.small_max_pixels == max(counts[c] for c in by["small"])
    assert strata.medium_max_pixels == max(counts[c] for c in by["medium"])


def test_cases_of_equal_size_share_a_stratum():
    counts = {"a": 1, "b": 2, "c": 3, "d": 3, "e": 4, "f": 5, "g": 6, "h": 7, "i": 8, "j": 9}
    strata = assign_size_strata(counts)  # the 3rd size (30%) is 3: both cases of size 3 are small
    assert [strata.stratum[c] for c in sorted(counts)] == ["small"] * 4 + ["medium"] * 2 + ["large"] * 4
    assert (strata.small_max_pixels, strata.medium_max_pixels) == (3, 5)


def test_test_draw_takes_30_percent_of_each_stratum_and_is_seeded():
    counts = _counts(100)
    strata = assign_size_strata(counts)
    test = draw_test_cases(strata, 0.3, seed=4)
    per = {s: sum(strata.stratum[c] == s for c in test) for s in ("small", "medium", "large")}
    assert per == {"small": 9, "medium": 9, "large": 12}
    assert test == draw_test_cases(strata, 0.3, seed=4)
    assert test != draw_test_cases(strata, 0.3, seed=5)


def test_grouped_draw_keeps_groups_whole_and_is_near_target():
    counts = _counts(120)
    groups = {c: f"g{i // 6}" for i, c in enumerate(sorted(counts))}  # 20 groups of 6
    split = make_stratified_split(counts, seed=0, groups=groups)
    for g in set(groups.values()):
        sides = {c in split.test_cases for c in counts if groups[c] == g}
        assert len(sides) == 1
    summary = split.summary()
    assert all(abs(summary[s]["test"] - 0.3 * summary[s]["cases"]) <= 3 for s in summary)
    for fold in split.folds:  # folds keep groups whole too
        val_groups = {groups[c] for c in fold["val"]}
        assert not val_groups & {groups[c] for c in fold["train"]}


def test_folds_without_groups_equal_nnunets_own():
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    cases = [f"c{i}" for i in range(23)]
    ours = nnunet_folds(cases)
    theirs = generate_crossval_split(sorted(cases), seed=12345, n_splits=5)
    assert [sorted(f["val"]) for f in ours] == [sorted(map(str, f["val"])) for f in theirs]
    assert sorted(c for f in ours for c in f["val"]) == sorted(cases)


def test_cvc_sequence_groups_follow_readme_table():
    groups = cvc_sequence_groups(["cvc_001", "cvc_025", "cvc_026", "cvc_205", "cvc_612"])
    assert groups == {"cvc_001": "seq01", "cvc_025": "seq01", "cvc_026": "seq02", "cvc_205": "seq10",
                      "cvc_612": "seq29"}
    with pytest.raises(ConversionError, match="outside 1..612"):
        cvc_sequence_groups(["cvc_613"])


def test_split_raw_dataset_moves_cases_and_writes_strata_and_splits(tmp_path):
    raw = tmp_path / "raw"
    make_synthetic_lesion_dataset(raw, 3, n_cases=20, size=32, seed=0, show_progress=False)
    dataset = raw / "Dataset003_SyntheticLesions"
    splits_path = tmp_path / "pre" / "Dataset003_SyntheticLesions" / "splits_final.json"
    split = split_raw_dataset(3, raw, seed=1, splits_final=splits_path)
    test = sorted(split.test_cases)
    assert len(test) == 2 + 2 + 2  # round(0.3 * 6), round(0.3 * 6), round(0.3 * 8)
    assert sorted(p.name[:-4] for p in (dataset / "labelsTs").iterdir()) == test
    assert sorted(p.name[:-9] for p in (dataset / "imagesTs").iterdir()) == test
    assert len(list((dataset / "labelsTr").iterdir())) == 14
    assert json.loads((dataset / "dataset.json").read_text())["numTraining"] == 14
    strata = json.loads((dataset / "size_strata.json").read_text())
    case = test[0]
    pixels = int((np.asarray(Image.open(dataset / "labelsTs" / f"{case}.png")) > 0).sum())
    assert strata["cases"][case]["pixels"] == pixels and strata["cases"][case]["set"] == "test"
    folds = json.loads(splits_path.read_text())
    assert len(folds) == 5 and sorted(c for f in folds for c in f["val"]) == split.train_cases
    with pytest.raises(ConversionError, match="already split"):
        split_raw_dataset(3, raw, seed=1)


def test_cli_convert_cvc_with_sequences_and_split_command(cvc_official, tmp_path, capsys):
    from nnunetv2_s3mamba.cli import main

    raw = tmp_path / "raw"
    assert main(["convert", "cvc", "-i", str(cvc_official), "-o", str(raw), "-d", "31", "--no-progress"]) == 0
    splits = tmp_path / "splits_final.json"
    code = main(["split", "-o", str(raw), "-d", "31", "--seed", "2", "--splits-final", str(splits)])
    assert code == 0 and "strata" in capsys.readouterr().out
    strata = json.loads((raw / "Dataset031_CVCClinicDB" / "size_strata.json").read_text())
    assert strata["summary"] == {"small": {"cases": 3, "test": 1}, "medium": {"cases": 3, "test": 1},
                                 "large": {"cases": 4, "test": 1}}
    assert sum(len(f["val"]) for f in json.loads(splits.read_text())) == 7
    # a second conversion with --keep-sequences: 10 frames are all sequence 1 -> too few groups, clear error
    code = main(["convert", "cvc", "-i", str(cvc_official), "-o", str(raw), "-d", "32", "--split", "--keep-sequences",
                 "--no-progress"])
    assert code == 2 and "groups" in capsys.readouterr().err
    assert sorted(p.name for p in raw.iterdir()) == ["Dataset031_CVCClinicDB"]
