"""The curriculum data loader draws by the shared weights, picks slices of 3D volumes, and reaches worker processes."""
import multiprocessing
import os

import numpy as np
import pytest
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
from nnunetv2.utilities.label_handling.label_handling import LabelManager
from scipy.stats import chisquare

from nnunetv2_s3mamba.curriculum.data_loader import CurriculumDataLoader
from nnunetv2_s3mamba.curriculum.lesion_size import build_sample_table, count_lesion_pixels
from nnunetv2_s3mamba.data.lesion_labels import LesionLabels

LABELS = LabelManager({"background": 0, "lesion": 1}, regions_class_order=None)


def make_loader(folder, batch_size=4, oversample=0.0):
    table = build_sample_table(nnUNetDatasetBlosc2(folder))
    return table, CurriculumDataLoader(nnUNetDatasetBlosc2(folder), batch_size, (16, 16), (16, 16), LABELS, table,
                                       oversample_foreground_percent=oversample)


def test_lesion_sizes_per_slice_and_cache(disc_volumes, tmp_path):
    folder, segs = disc_volumes
    cache = str(tmp_path / "out" / "sizes.json")
    table = build_sample_table(nnUNetDatasetBlosc2(folder), cache_file=cache)
    assert table.sample_ids == ("a@slice0", "a@slice1", "a@slice2", "a@slice3", "b@slice0", "b@slice1", "c")
    expected = np.concatenate([(segs[c] > 0).sum((1, 2)) for c in ("a", "b", "c")])
    assert table.lesion_sizes.tolist() == expected.tolist()
    assert table.lesion_sizes[2] > table.lesion_sizes[1] > 0 and table.lesion_sizes[0] == 0
    assert os.path.isfile(cache) and not os.listdir(folder).count("sizes.json")
    # a cached entry is reused while the shape matches (prove it by planting a value), recomputed otherwise
    import json
    content = json.load(open(cache))
    content["cases"]["c"]["sizes"] = [999]
    content["cases"]["a"]["shape"] = [1, 9, 9, 9]
    content["cases"]["a"]["sizes"] = [7] * 9
    json.dump(content, open(cache, "w"))
    again = build_sample_table(nnUNetDatasetBlosc2(folder), cache_file=cache)
    assert again.lesion_sizes[-1] == 999 and again.lesion_sizes[:4].tolist() == expected[:4].tolist()
    open(cache, "w").write("{broken")
    with pytest.warns(UserWarning, match="unreadable lesion-size cache"):
        assert build_sample_table(nnUNetDatasetBlosc2(folder), cache_file=cache).lesion_sizes.tolist() \
            == expected.tolist()


def test_count_ignores_ignore_label_and_outside_mask():
    seg = np.array([[[[0, 1, 2], [-1, 1, 3]]]])
    assert count_lesion_pixels(seg).tolist() == [4]
    assert count_lesion_pixels(seg, LesionLabels(ignore_label=3)).tolist() == [3]
    with pytest.raises(ValueError, match="shape"):
        count_lesion_pixels(np.zeros((4, 4)))


def test_sampler_draws_according_to_weights(disc_volumes):
    folder, _ = disc_volumes
    table, loader = make_loader(folder)
    p = np.array([0.05, 0.05, 0.3, 0.1, 0.1, 0.15, 0.25])
    loader.set_sampling_probabilities(p * 10)  # any scale: normalised
    np.random.seed(1234)
    draws = [key for _ in range(1500) for key in loader.get_indices()]
    counts = np.array([draws.count(s) for s in table.sample_ids])
    assert chisquare(counts, p * counts.sum()).pvalue > 0.01
    # the test can fail: the same draws are far from uniform
    assert chisquare(counts, np.full(len(p), counts.sum() / len(p))).pvalue < 1e-6


def test_forced_foreground_positions_draw_lesion_samples_and_batch_is_sliced(disc_volumes):
    folder, segs = disc_volumes
    table, loader = make_loader(folder, batch_size=3, oversample=0.34)
    loader.set_sampling_probabilities(np.where(table.lesion_sizes == 0, 100.0, 1.0))
    np.random.seed(0)
    for _ in range(30):
        batch = loader.generate_train_batch()
        keys = list(batch["keys"])
        assert table.lesion_sizes[table.row_of[keys[-1]]] > 0  # last position forced to foreground
        assert batch["data"].shape == (3, 1, 16, 16) and batch["target"].shape == (3, 1, 16, 16)
        for j, key in enumerate(keys):
            row = table.row_of[key]
            assert int((batch["target"][j] > 0).sum()) <= table.lesion_sizes[row]
        forced = table.row_of[keys[-1]]
        assert int((batch["target"][-1] > 0).sum()) > 0, f"forced-fg patch of {keys[-1]} has no lesion"
        assert int((batch["target"][-1] > 0).sum()) <= table.lesion_sizes[forced]


def test_slice_sample_matches_volume_slice(disc_volumes):
    folder, segs = disc_volumes
    table, loader = make_loader(folder)
    data, seg, _, props = loader._data.load_case("a@slice2")
    assert seg.shape == (1, 1, 16, 16)
    assert np.array_equal(np.asarray(seg)[0, 0], segs["a"][2])
    locations = props["class_locations"][1]
    assert len(locations) > 0 and np.all(locations[:, 1] == 0)
    assert np.all(segs["a"][2][locations[:, 2], locations[:, 3]] == 1)


def _worker_reads(loader, ready, done, queue):
    ready.set()
    done.wait(20)
    queue.put(loader.sampling_probabilities_now().tolist())


def test_probabilities_written_after_worker_start_reach_the_worker(disc_volumes):
    """nnU-Net's workers are persistent processes: the trainer's later writes must still be visible there."""
    folder, _ = disc_volumes
    table, loader = make_loader(folder)
    context = multiprocessing.get_context()
    ready, done, queue = context.Event(), context.Event(), context.Queue()
    worker = context.Process(target=_worker_reads, args=(loader, ready, done, queue))
    worker.start()
    assert ready.wait(20)
    new = np.arange(1, len(table) + 1, dtype=float)
    loader.set_sampling_probabilities(new)
    done.set()
    seen = np.array(queue.get(timeout=20))
    worker.join(20)
    assert np.allclose(seen, new / new.sum())


def test_invalid_probabilities_rejected(disc_volumes):
    folder, _ = disc_volumes
    table, loader = make_loader(folder)
    for bad in (np.zeros(len(table)), -np.ones(len(table)), np.full(len(table), np.nan), np.ones(3)):
        with pytest.raises(ValueError, match="sampling probabilities"):
            loader.set_sampling_probabilities(bad)
