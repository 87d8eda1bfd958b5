"""The paper's size-stratified split and nnU-Net's cross-validation folds for the training part.

Paper ("Datasets"): sort cases by lesion pixel count; the smallest 30% are *small*, 30-60% *medium*, the rest
*large*; 30% of each stratum, drawn at random, form that stratum's test set; the other 70% train.
The strata and their tie rule are `data.strata`'s (cases of equal size share a stratum). With `groups`
(CVC-ClinicDB video sequences, whose frames are near-duplicates) whole groups go to one side; the draw then aims
at the per-stratum test shares as closely as whole groups allow (the achieved shares are written to the strata
file).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.data.strata import STRATA, STRATUM_BOUNDS, round_half_up, size_stratum, stratum_thresholds

STRATA_FILE_NAME = "size_strata.json"
DEFAULT_TEST_FRACTION = 0.3
NNUNET_SPLIT_SEED = 12345  # nnU-Net's own seed in do_split: without groups our folds equal the ones it would make
GROUP_DRAW_RESTARTS = 500


@dataclass(frozen=True)
class SizeStrata:
    """Stratum and lesion pixel count of every case, and the thresholds (largest count still small / medium)."""

    stratum: dict[str, str]
    pixels: dict[str, int]
    small_max_pixels: int
    medium_max_pixels: int


def assign_size_strata(pixel_counts: Mapping[str, int], bounds: Sequence[float] = STRATUM_BOUNDS) -> SizeStrata:
    """Every case's stratum by its lesion pixel count (`data.strata`; paper bounds 30% and 60%)."""
    if len(pixel_counts) < len(STRATA):
        raise ConversionError(f"a size-stratified split needs at least 3 cases, got {len(pixel_counts)}.")
    order = sorted(pixel_counts, key=lambda case: (pixel_counts[case], case))
    pixels = {case: int(pixel_counts[case]) for case in order}
    thresholds = stratum_thresholds(list(pixels.values()), bounds)
    names = size_stratum(list(pixels.values()), thresholds)
    return SizeStrata(
        stratum=dict(zip(order, map(str, names))),
        pixels=pixels,
        small_max_pixels=int(thresholds.small_max),
        medium_max_pixels=int(thresholds.medium_max),
    )


def draw_test_cases(
    strata: SizeStrata, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0,
    groups: Mapping[str, str] | None = None,
) -> set[str]:
    """Seeded draw of round(test_fraction * n) cases from every stratum, or of whole groups if `groups` is given."""
    if not 0 < test_fraction < 1:
        raise ConversionError(f"test fraction must be in (0, 1), got {test_fraction}.")
    rng = np.random.default_rng(seed)
    if groups is None:
        chosen: set[str] = set()
        for name in STRATA:
            members = sorted(case for case, s in strata.stratum.items() if s == name)
            n_test = round_half_up(test_fraction * len(members))
            chosen.update(members[i] for i in rng.choice(len(members), size=n_test, replace=False))
        return chosen
    return _draw_whole_groups(strata, test_fraction, rng, groups)


def _draw_whole_groups(
    strata: SizeStrata, test_fraction: float, rng: np.random.Generator, groups: Mapping[str, str]
) -> set[str]:
    """Greedy seeded search over group orders for the test set closest to the per-stratum targets.

    Closeness is the squared difference between test cases and target per stratum; the best of
    GROUP_DRAW_RESTARTS random orders wins (the first one on ties, so the seed fixes the result).
    """
    missing = sorted(set(strata.stratum) - set(groups))
    if missing:
        raise ConversionError(f"no group (sequence) known for cases {missing[:10]}.")
    names = sorted({groups[case] for case in strata.stratum}, key=str)
    counts = np.zeros((len(names), len(STRATA)))
    index = {name: i for i, name in enumerate(names)}
    for case, s in strata.stratum.items():
        counts[index[groups[case]], STRATA.index(s)] += 1
    target = test_fraction * counts.sum(axis=0)
    best_take, best_cost = [], math.inf
    for _ in range(GROUP_DRAW_RESTARTS):
        order = rng.permutation(len(names))
        total, take = np.zeros(len(STRATA)), []
        for g in order:
            if np.sum((total + counts[g] - target) ** 2) < np.sum((total - target) ** 2):
                total += counts[g]
                take.append(g)
        cost = float(np.sum((total - target) ** 2))
        if cost < best_cost:
            best_take, best_cost = take, cost
    test_groups = {names[g] for g in best_take}
    return {case for case in strata.stratum if groups[case] in test_groups}


def nnunet_folds(
    train_cases: Sequence[str], n_folds: int = 5, seed: int = NNUNET_SPLIT_SEED,
    groups: Mapping[str, str] | None = None,
) -> list[dict[str, list[str]]]:
    """Folds in nnU-Net's splits_final.json format ([{'train': [...], 'val': [...]}, ...]).

    Without groups this is nnU-Net's own `generate_crossval_split` on the sorted IDs (what nnU-Net would write).
    With groups, whole groups are dealt (largest first, seeded order) to the fold that has fewest cases.
    """
    cases = sorted(train_cases)
    if len(cases) < n_folds:
        raise ConversionError(f"{n_folds} folds need at least {n_folds} training cases, got {len(cases)}.")
    if groups is None:
        from nnunetv2.utilities.crossval_split import generate_crossval_split

        folds = generate_crossval_split(cases, seed=seed, n_splits=n_folds)
        return [{"train": sorted(map(str, f["train"])), "val": sorted(map(str, f["val"]))} for f in folds]
    members: dict[str, list[str]] = {}
    for case in cases:
        members.setdefault(str(groups[case]), []).append(case)
    if len(members) < n_folds:
        raise ConversionError(f"{n_folds} folds need at least {n_folds} groups, got {len(members)}.")
    rng = np.random.default_rng(seed)
    names = [sorted(members)[i] for i in rng.permutation(len(members))]
    names.sort(key=lambda g: -len(members[g]))  # stable: equal sizes keep the seeded order
    val: list[list[str]] = [[] for _ in range(n_folds)]
    for g in names:
        min(val, key=len).extend(members[g])
    return [{"train": sorted(c for c in cases if c not in set(v)), "val": sorted(v)} for v in val]


def write_splits_final(folds: list[dict[str, list[str]]], path: str | Path, overwrite: bool = False) -> Path:
    """Write nnU-Net's splits_final.json (typically nnUNet_preprocessed/DatasetXXX_Name/splits_final.json)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConversionError(f"{path} already exists (a training run may rely on it); pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(folds, indent=2))
    return path


@dataclass
class StratifiedSplit:
    """Outcome of a size-stratified split: strata, the test cases, training folds and achieved shares."""

    strata: SizeStrata
    test_cases: set[str]
    folds: list[dict[str, list[str]]]
    groups: dict[str, str] | None = None
    settings: dict = field(default_factory=dict)

    @property
    def train_cases(self) -> list[str]:
        return sorted(set(self.strata.stratum) - self.test_cases)

    def summary(self) -> dict[str, dict[str, int]]:
        out = {}
        for name in STRATA:
            members = [c for c, s in self.strata.stratum.items() if s == name]
            out[name] = {"cases": len(members), "test": sum(c in self.test_cases for c in members)}
        return out

    def to_json(self) -> dict:
        return {
            "description": "Lesion-size strata (paper: smallest 30% small, 30-60% medium, rest large; equal "
                           "sizes share a stratum: small <= small_max_pixels < medium <= medium_max_pixels < "
                           "large) and the test draw; pixels = foreground pixel count of the case's label.",
            **self.settings,
            "thresholds": {"small_max_pixels": self.strata.small_max_pixels,
                           "medium_max_pixels": self.strata.medium_max_pixels},
            "summary": self.summary(),
            "cases": {
                case: {"stratum": self.strata.stratum[case], "pixels": self.strata.pixels[case],
                       "set": "test" if case in self.test_cases else "train",
                       **({"group": self.groups[case]} if self.groups else {})}
                for case in self.strata.pixels
            },
        }


def make_stratified_split(
    pixel_counts: Mapping[str, int], seed: int = 0, test_fraction: float = DEFAULT_TEST_FRACTION,
    bounds: Sequence[float] = STRATUM_BOUNDS, groups: Mapping[str, str] | None = None, n_folds: int = 5,
) -> StratifiedSplit:
    """Strata, seeded test draw and training folds from lesion pixel counts (no files touched)."""
    strata = assign_size_strata(pixel_counts, bounds)
    test = draw_test_cases(strata, test_fraction, seed, groups)
    train = sorted(set(strata.stratum) - test)
    folds = nnunet_folds(train, n_folds=n_folds, groups=groups) if n_folds > 1 else []
    settings = {"seed": seed, "test_fraction": test_fraction, "bounds": list(bounds),
                "grouped": groups is not None}
    return StratifiedSplit(strata, test, folds, dict(groups) if groups else None, settings)


def load_strata_file(path: str | Path) -> dict:
    """Read a strata file written by the split (case -> stratum, pixels, thresholds)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        cases = data["cases"]
    except (OSError, ValueError, KeyError) as error:
        raise ConversionError(f"cannot read strata file {path}: {error}. Write one with `s3mamba split`.") from error
    bad = {c: v.get("stratum") for c, v in cases.items() if v.get("stratum") not in STRATA}
    if bad:
        raise ConversionError(f"strata file {path} has unknown strata {dict(list(bad.items())[:5])}.")
    return data
