"""Trainer pieces that need no training run: patch sizes, schedule, variant switches, optimiser groups."""
from __future__ import annotations

import copy
import math

import pytest
import torch

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.trainers.s3mamba_trainer import _with_network_patch_size, round_patch_size_up
from nnunetv2_s3mamba.trainers.registry import rows_of_group
from nnunetv2_s3mamba.trainers.schedule import CosineLRScheduler
from plans import make_plans


def test_round_patch_size_up_to_network_divisor():
    assert round_patch_size_up([80, 112]) == [96, 128]
    assert round_patch_size_up([320, 384]) == [320, 384]
    assert round_patch_size_up([33, 1]) == [64, 32]


def test_plans_patch_size_written_on_the_trained_configuration_only():
    plans = make_plans({"2d": {"patch_size": [80, 112], "data_identifier": "a"}})
    plans["configurations"]["2d_big"] = {"inherits_from": "2d", "batch_size": 2}
    untouched = copy.deepcopy(plans["configurations"]["2d"])
    _with_network_patch_size(plans, "2d_big")
    assert plans["configurations"]["2d_big"]["patch_size"] == [96, 128]
    assert plans["configurations"]["2d"] == untouched


def test_3d_configuration_is_refused_with_the_command_to_use():
    plans = make_plans({"3d_fullres": {"patch_size": [64, 128, 128]}})
    with pytest.raises(RuntimeError, match="nnUNetv2_train DATASET 2d FOLD -tr S3MambaTrainer"):
        _with_network_patch_size(plans, "3d_fullres")


def test_cosine_schedule_is_a_function_of_the_epoch():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1e-4)
    scheduler = CosineLRScheduler(optimizer, 1e-4, 100)
    scheduler.step(0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    scheduler.step(50)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-5)
    scheduler.step(25)  # resuming at an earlier epoch gives that epoch's rate, not a continuation
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi / 4)))
    scheduler.step(100)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def _components_in_name(name: str) -> tuple[bool, bool, bool]:
    """(EnCF, TCMA, CL) as the paper's Tables 3-4 name a row: the full model, `noCL`, the baseline, or the parts."""
    parts = set(name.removeprefix("S3MambaTrainer").split("_")[1:])
    if not parts:
        return True, True, True
    if parts == {"noCL"}:
        return True, True, False
    return "EnCF" in parts, "TCMA" in parts, "CL" in parts


@pytest.mark.parametrize("row", rows_of_group("paper") + rows_of_group("ablation"), ids=lambda row: row.name)
def test_ablation_rows_switch_the_components_their_names_say(row):
    trainer = getattr(trainers, row.name)
    assert (trainer.use_encf, trainer.use_tcma, trainer.use_curriculum) == _components_in_name(row.name)
    short = getattr(trainers, f"{row.name}_50epochs")
    assert short.epochs == 50 and issubclass(short, trainer)


@pytest.fixture
def unet_trainer_args(tmp_path, monkeypatch) -> tuple[dict, str, int, dict, torch.device]:
    """What nnU-Net passes a U-Net trainer's `__init__`, for a tiny 2d plan, with nnU-Net's folders set."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    plans = make_plans({"2d": {"patch_size": [64, 64], "batch_size": 2, "data_identifier": "nnUNetPlans_2d"}})
    dataset_json = {"channel_names": {"0": "R"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 2,
                    "file_ending": ".png"}
    return plans, "2d", 0, dataset_json, torch.device("cpu")


@pytest.mark.parametrize("epochs", [15, 30])
def test_budgets_nnunet_lacks_exist_for_the_unet_and_every_row(unet_trainer_args, epochs):
    """docs/RESULTS.md's 15- and 30-epoch rows: nnU-Net ships neither U-Net, ours change only the epoch count."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    plans, *other_args = unet_trainer_args
    unet = getattr(trainers, f"nnUNetTrainer_{epochs}epochs")(copy.deepcopy(plans), *other_args)
    reference = nnUNetTrainer(copy.deepcopy(plans), *other_args)
    assert (unet.num_epochs, unet.num_iterations_per_epoch) == (epochs, 250)
    assert (unet.initial_lr, unet.weight_decay, unet.configuration_name) == \
        (reference.initial_lr, reference.weight_decay, reference.configuration_name)
    assert getattr(trainers, f"S3MambaTrainer_{epochs}epochs").epochs == epochs
    assert getattr(trainers, f"S3MambaTrainer_baseline_{epochs}epochs").epochs == epochs


def test_unet_adamw_row_changes_only_the_optimiser(unet_trainer_args):
    """docs/RESULTS.md's control row: nnU-Net's U-Net with S3-Mamba's AdamW, lr, decay groups and cosine schedule."""
    plans, *other_args = unet_trainer_args
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    rows = {}
    for row in (trainers.nnUNetTrainer_15epochs, trainers.nnUNetTrainer_AdamW_15epochs):
        trainer = row(copy.deepcopy(plans), *other_args)  # nnU-Net pops a key from the plans it is given
        trainer.network = network
        rows[row] = trainer, *trainer.configure_optimizers()
    (sgd_trainer, sgd, _), (trainer, adamw, schedule) = rows.values()
    assert isinstance(sgd, torch.optim.SGD) and isinstance(adamw, torch.optim.AdamW)
    assert (trainer.num_epochs, trainer.num_iterations_per_epoch) == \
        (sgd_trainer.num_epochs, sgd_trainer.num_iterations_per_epoch) == (15, 250)
    assert sgd.param_groups[0]["lr"] == 1e-2
    decay, no_decay = adamw.param_groups
    assert [p.shape for p in decay["params"]] == [network[0].weight.shape] and decay["weight_decay"] == 1e-2
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
    lrs = [schedule.lr_at(epoch) for epoch in (0, 15)]
    assert lrs[0] == pytest.approx(trainers.S3MambaTrainer.learning_rate) == pytest.approx(1e-4)
    assert lrs[1] == pytest.approx(0.0, abs=1e-12)
    schedule.step(5)
    assert adamw.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi / 3)))


def test_s3mamba_sgd_row_changes_only_the_optimiser(unet_trainer_args):
    """The converse control: S3-Mamba (network, curriculum, budget unchanged) with nnU-Net's SGD, lr, decay, poly."""
    from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

    plans, *other_args = unet_trainer_args
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.LayerNorm(2))
    paper, sgd_row = (row(copy.deepcopy(plans), *other_args)
                      for row in (trainers.S3MambaTrainer_15epochs, trainers.S3MambaTrainer_nnUNetSGD_15epochs))
    nnunet = trainers.nnUNetTrainer_15epochs(copy.deepcopy(plans), *other_args)
    for trainer in (paper, sgd_row, nnunet):
        trainer.network = network
    sgd, schedule = sgd_row.configure_optimizers()
    reference, _ = nnunet.configure_optimizers()
    assert isinstance(sgd, torch.optim.SGD) and isinstance(schedule, PolyLRScheduler)
    assert sgd.defaults == reference.defaults and sgd.defaults["lr"] == 1e-2 and sgd.defaults["momentum"] == 0.99
    assert isinstance(paper.configure_optimizers()[0], torch.optim.AdamW)
    assert (sgd_row.num_epochs, sgd_row.num_iterations_per_epoch) == \
        (paper.num_epochs, paper.num_iterations_per_epoch) == (15, 250)
    assert (sgd_row.use_encf, sgd_row.use_tcma, sgd_row.use_curriculum) == (True, True, True)


def test_builder_follows_class_switches_and_ds_flag():
    kwargs = dict(plans_manager=None, configuration_manager=None, num_input_channels=3, num_output_channels=2)

    class Tiny(trainers.S3MambaTrainer_baseline):
        network_preset = "small"
        network_overrides = {"dims": (8, 16, 32, 64)}

    class TinyFull(trainers.S3MambaTrainer):
        network_preset = "small"
        network_overrides = {"dims": (8, 16, 32, 64)}

    baseline = Tiny.build_network_architecture(**kwargs, enable_deep_supervision=False)
    full = TinyFull.build_network_architecture(**kwargs, enable_deep_supervision=False)
    assert baseline.deep_supervision is False
    assert sum(p.numel() for p in full.parameters()) > sum(p.numel() for p in baseline.parameters())
    with_ds = TinyFull.build_network_architecture(**kwargs, enable_deep_supervision=True)
    assert with_ds.state_dict().keys() == full.state_dict().keys()


def test_full_resolution_tcma_row_and_its_budgets_build_the_fourth_tcma_level():
    kwargs = dict(plans_manager=None, configuration_manager=None, num_input_channels=3, num_output_channels=2)
    row = trainers.S3MambaTrainer_TCMAfullres_10epochs
    assert row.epochs == 10 and issubclass(row, trainers.S3MambaTrainer) and row.use_curriculum

    class Tiny(row):
        network_preset = "small"
        network_overrides = {**row.network_overrides, "dims": (8, 16, 32, 64)}

    net = Tiny.build_network_architecture(**kwargs, enable_deep_supervision=False)
    assert net.tcma_full_resolution and len(net.tcma.weight_mlps) == 4
    assert trainers.S3MambaTrainer.network_overrides == {}


def test_no_drop_path_row_trains_every_block_deterministically_and_changes_nothing_else():
    """Stochastic depth off: all 15 blocks' rates are 0, so two training-mode passes agree (with the default 0.2
    they do not); the parameters and components are the paper row's."""
    from dynamic_network_architectures.building_blocks.regularization import DropPath

    kwargs = dict(plans_manager=None, configuration_manager=None, num_input_channels=3, num_output_channels=2,
                  enable_deep_supervision=False)
    nets = {}
    for row in (trainers.S3MambaTrainer_15epochs, trainers.S3MambaTrainer_noDropPath_15epochs):
        class Tiny(row):
            network_preset = "small"
            network_overrides = {**row.network_overrides, "dims": (8, 16, 32, 64)}
        torch.manual_seed(0)
        nets[row] = Tiny.build_network_architecture(**kwargs).train()
    paper, no_drop_path = nets.values()
    rates = {name: [m.drop_prob for m in net.modules() if isinstance(m, DropPath)] for name, net in
             (("paper", paper), ("no_drop_path", no_drop_path))}
    assert len(rates["no_drop_path"]) == 15 and set(rates["no_drop_path"]) == {0.0}
    assert max(rates["paper"]) == pytest.approx(0.2)
    assert paper.state_dict().keys() == no_drop_path.state_dict().keys()
    assert trainers.S3MambaTrainer_noDropPath_15epochs.use_curriculum
    assert trainers.S3MambaTrainer.network_overrides == {}
    x = torch.randn(4, 3, 64, 64)
    torch.manual_seed(1)
    assert torch.equal(no_drop_path(x), no_drop_path(x))
    assert not torch.equal(paper(x), paper(x))


def test_adamw_groups_exclude_norms_biases_and_ssm_constants_from_weight_decay():
    from nnunetv2_s3mamba.architectures import build_s3mamba
    from nnunetv2_s3mamba.trainers.s3mamba_trainer import paper_optimizer

    network = build_s3mamba("small", 3, 2, deep_supervision=True, dims=(8, 16, 32, 64))
    optimizer, _ = paper_optimizer(network, lr=1e-4, weight_decay=1e-2, epochs=10)
    decay, no_decay = ({id(p) for p in group["params"]} for group in optimizer.param_groups)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [1e-2, 0.0]
    named = dict(network.named_parameters())
    assert all(id(p) in no_decay for name, p in named.items() if name.endswith(("A_logs", "Ds")) or p.ndim == 1)
    assert id(named["patch_embed.proj.weight"]) in decay
    assert len(decay) + len(no_decay) == len(named)
    assert optimizer.defaults["fused"] is True


def test_fused_adamw_step_matches_the_unfused_update():
    from nnunetv2_s3mamba.trainers.s3mamba_trainer import paper_adamw

    torch.manual_seed(0)
    layers = [torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LayerNorm(4)) for _ in range(2)]
    layers[1].load_state_dict(layers[0].state_dict())
    fused = paper_adamw(layers[0], 1e-2, 1e-2)
    plain = torch.optim.AdamW([{"params": [layers[1][0].weight], "weight_decay": 1e-2},
                               {"params": [layers[1][0].bias, *layers[1][1].parameters()], "weight_decay": 0.0}],
                              lr=1e-2, foreach=False)
    initial = layers[0][0].weight.detach().clone()
    x = torch.randn(5, 6)
    for _ in range(3):
        for layer, optimizer in zip(layers, (fused, plain)):
            optimizer.zero_grad()
            layer(x).square().sum().backward()
            optimizer.step()
    for a, b in zip(layers[0].parameters(), layers[1].parameters()):
        torch.testing.assert_close(a, b)
    assert (layers[0][0].weight - initial).abs().min() > 1e-3, "every weight must have moved"


@pytest.mark.parametrize("supported", [True, False])
def test_network_builder_sets_bf16_autocast_for_training_and_prediction(monkeypatch, supported):
    """nnUNetv2_predict only calls the builder: it must leave the process predicting under bf16 where training ran
    under bf16, and touch nothing where the GPU lacks bf16."""
    previous = torch.get_autocast_dtype("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: supported)
    torch.set_autocast_dtype("cuda", torch.float16)
    try:
        trainers.S3MambaTrainer_demo.build_network_architecture(None, None, 3, 2, False)
        assert torch.get_autocast_dtype("cuda") == (torch.bfloat16 if supported else torch.float16)
    finally:
        torch.set_autocast_dtype("cuda", previous)


@pytest.mark.parametrize("env, device, backend, compiles", [
    (None, "cuda", "mamba_ssm", True),     # nnU-Net's default, on the measured path
    (None, "cuda", "torch", False),        # unasked, the PyTorch scan stays eager (and the log says why)
    (None, "cuda", "triton", True),        # our Triton kernel (auto's choice without mamba-ssm) compiles too
    ("1", "cuda", "torch", True),          # asked for: compiled whatever the scan
    ("f", "cuda", "mamba_ssm", False),     # nnU-Net's switch turns it off
    (None, "cpu", "mamba_ssm", False),     # nnU-Net never compiles on the CPU
    ("1", "cpu", "torch", False)])
def test_compile_follows_nnunet_except_for_the_unmeasured_torch_scan(monkeypatch, env, device, backend, compiles):
    import nnunetv2_s3mamba.trainers.s3mamba_trainer as module
    if env is None:
        monkeypatch.delenv("nnUNet_compile", raising=False)
    else:
        monkeypatch.setenv("nnUNet_compile", env)
    monkeypatch.setattr(module, "resolve_scan_backend", lambda requested, on_cuda: backend)
    trainer = trainers.S3MambaTrainer.__new__(trainers.S3MambaTrainer)  # only what _do_i_compile reads
    trainer.device = torch.device(device)
    messages: list[str] = []
    trainer.print_to_log_file = lambda *args, **kwargs: messages.append(" ".join(map(str, args)))
    assert trainer._do_i_compile() is compiles
    explained = env is None and device == "cuda" and backend == "torch"
    assert any("nnUNet_compile=1" in m for m in messages) == explained


def test_fast_row_builds_one_state_per_channel_without_expansion_and_keeps_the_papers_components():
    kwargs = dict(plans_manager=None, configuration_manager=None, num_input_channels=3, num_output_channels=2,
                  enable_deep_supervision=True)
    fast = trainers.S3MambaTrainer_fast_10epochs
    assert fast.network_preset == "vmamba-s-fast" and fast.use_curriculum and fast.epochs == 10
    net = fast.build_network_architecture(**kwargs)
    paper = trainers.S3MambaTrainer.build_network_architecture(**kwargs)
    from nnunetv2_s3mamba.architectures.ss2d import SS2D
    fast_blocks = [m for m in net.modules() if isinstance(m, SS2D)]
    paper_blocks = [m for m in paper.modules() if isinstance(m, SS2D)]
    assert len(fast_blocks) == len(paper_blocks) == 15
    for fast_block, paper_block in zip(fast_blocks, paper_blocks):
        assert (fast_block.d_state, paper_block.d_state) == (1, 16)
        assert fast_block.d_inner * 2 == paper_block.d_inner == 2 * fast_block.in_proj.in_features
    assert net.use_encf and net.use_tcma
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in paper.parameters())
