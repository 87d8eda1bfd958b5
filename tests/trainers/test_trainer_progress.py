"""Progress lines inside an epoch: when they are due (an injected clock) and that a trainer logs them."""
from __future__ import annotations

import torch

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.trainers.progress import EpochProgressMixin, IterationProgress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(progress: IterationProgress, clock: FakeClock, seconds_per_iteration: float) -> dict[int, str]:
    lines = {}
    for _ in range(progress.total):
        clock.now += seconds_per_iteration
        line = progress.step()
        if line is not None:
            lines[progress.done] = line
    return lines


def test_slow_iterations_are_reported_every_n_iterations_with_rate_and_eta():
    clock = FakeClock()
    lines = run(IterationProgress(3, 250, every_iterations=50, every_seconds=30, clock=clock), clock, 4.8)
    assert list(lines) == [50, 100, 150, 200]  # never after the last iteration: nnU-Net's summary follows
    assert lines[50] == "epoch 3: iteration 50/250, 4.8 s/it, ETA 16 min"
    assert lines[200].endswith("ETA 4 min")


def test_fast_iterations_are_reported_every_interval_instead():
    """1/8 s/it: 50 iterations take 6.25 s, so the 30-s interval is the rarer condition."""
    clock = FakeClock()
    lines = run(IterationProgress(0, 1000, every_iterations=50, every_seconds=30, clock=clock), clock, 0.125)
    assert list(lines) == [240, 480, 720, 960]
    assert lines[960] == "epoch 0: iteration 960/1000, 0.1 s/it, ETA 5 s"


def test_every_iteration_when_both_thresholds_are_minimal():
    clock = FakeClock()
    lines = run(IterationProgress(1, 5, every_iterations=1, every_seconds=0.0, clock=clock), clock, 2.0)
    assert list(lines) == [1, 2, 3, 4]


class _Step:
    def train_step(self, batch: dict) -> dict:
        return {"loss": batch["loss"]}

    def on_train_epoch_start(self) -> None:
        pass


class _Logged(EpochProgressMixin, _Step):
    progress_every_iterations, progress_every_seconds = 2, 0.0

    def __init__(self, local_rank: int):
        self.local_rank, self.current_epoch, self.num_iterations_per_epoch = local_rank, 7, 5
        self.lines: list[str] = []

    def print_to_log_file(self, *args) -> None:
        self.lines.append(" ".join(map(str, args)))


def test_mixin_logs_on_rank_zero_only_and_passes_the_step_result_through():
    for rank, expected in ((0, ["epoch 7: iteration 2/5", "epoch 7: iteration 4/5"]), (1, [])):
        trainer = _Logged(rank)
        trainer.on_train_epoch_start()
        assert [trainer.train_step({"loss": i})["loss"] for i in range(5)] == list(range(5))
        assert [line.split(",")[0] for line in trainer.lines] == expected


def test_train_step_outside_the_epoch_loop_logs_nothing():
    trainer = _Logged(0)
    assert trainer.train_step({"loss": torch.tensor(1.0)})["loss"] == 1.0 and trainer.lines == []


def test_shipped_trainers_report_progress_and_the_smoke_trainer_every_iteration():
    assert issubclass(trainers.S3MambaTrainer, EpochProgressMixin)
    assert (trainers.S3MambaTrainer.progress_every_iterations, trainers.S3MambaTrainer.progress_every_seconds) \
        == (50, 30.0)
    smoke = trainers.S3MambaTrainer_smoke
    assert (smoke.progress_every_iterations, smoke.progress_every_seconds) == (1, 0.0)
