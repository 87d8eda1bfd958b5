"""`s3mamba doctor`: every way an installation can fail to train or predict, each with the fix.

Peers' issue trackers are full of failures that only show deep inside a run (trainer not found at predict time,
an old timm breaking nnU-Net's trainer lookup, a mamba-ssm ABI mismatch). Each check here names the problem and
the command that fixes it, before a user starts a long training.
"""
from __future__ import annotations

import contextlib
import io
import os
import site
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch
from packaging.version import Version

from nnunetv2_s3mamba.setup_check import startup_hook
from nnunetv2_s3mamba.setup_check.discovery import EXT_TRAINER_VARIABLE, ext_trainer_dir, is_registered

SUPPORTED_NNUNET = (Version("2.8.1"), Version("2.9"))


@dataclass
class Check:
    """One line of the report; `ok=None` is a warning that does not stop training."""

    name: str
    ok: bool | None
    detail: str
    advice: str = ""


def check_nnunet_version() -> Check:
    version = Version(metadata.version("nnunetv2"))
    low, high = SUPPORTED_NNUNET
    ok = low <= version < high
    return Check("nnunetv2 version", ok, str(version),
                 "" if ok else f'pip install "nnunetv2>={low},<{high}" (external trainers need nnU-Net >= 2.8)')


def check_automatic_registration() -> Check:
    """Whether the startup hook (startup_hook.py) ran in this process, and what it did to nnUNet_extTrainer."""
    name = "automatic registration at Python startup"
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    installed = next((str(Path(f) / startup_hook.PTH_FILE) for f in folders
                      if (Path(f) / startup_hook.PTH_FILE).is_file()), None)
    outcome = startup_hook.startup_outcome
    if outcome is None:
        where = f"{installed} is installed but did not run" if installed else \
            f"{startup_hook.PTH_FILE} is not in this Python's site-packages"
        return Check(name, None, f"inactive: {where}",
                     "pip install nnunetv2_s3mamba into this environment (not with --target or PYTHONPATH), "
                     'or eval "$(s3mamba env)"')
    return Check(name, True if outcome.active else None,
                 f"{'active' if outcome.active else 'inactive'} ({installed}): {outcome.detail}")


def check_registration() -> Check:
    value = os.environ.get(EXT_TRAINER_VARIABLE, "")
    ok = is_registered(value)
    return Check(f"{EXT_TRAINER_VARIABLE} lists {ext_trainer_dir()}", ok, value or "(unset)",
                 "" if ok else 'eval "$(s3mamba env)"   (needed for train AND predict where the automatic '
                               'registration above is inactive)')


def check_trainer_lookup() -> Check:
    """Resolve S3MambaTrainer exactly as nnUNetv2_train and nnUNetv2_predict do."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            trainer = recursive_find_trainer_class_by_name("S3MambaTrainer")
    except Exception as error:  # nnU-Net raises RuntimeError when not found and re-raises import errors
        return Check("nnU-Net finds S3MambaTrainer", False, f"{type(error).__name__}: {error}".splitlines()[0],
                     'eval "$(s3mamba env)"; if the error is an import error, fix that package (e.g. timm >= 0.9)')
    ok = trainer.__module__.startswith("nnunetv2_s3mamba.")
    return Check("nnU-Net finds S3MambaTrainer", ok, f"{trainer.__module__}.{trainer.__name__}",
                 "" if ok else "another S3MambaTrainer shadows ours: remove it from nnUNet_extTrainer")


def check_timm() -> Check:
    try:
        import timm.layers  # noqa: F401  (nnU-Net 2.8's Primus trainers import it during every trainer lookup)
    except ImportError as error:
        return Check("timm.layers importable", False, str(error), 'pip install "timm>=0.9,<1.0.23"')
    return Check("timm.layers importable", True, "ok")


def check_paths() -> Check:
    missing = [name for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results") if not os.environ.get(name)]
    return Check("nnU-Net data folders", None if missing else True,
                 "unset: " + ", ".join(missing) if missing else "set",
                 "export nnUNet_raw=... nnUNet_preprocessed=... nnUNet_results=... (see nnU-Net's setting_up_paths)"
                 if missing else "")


def check_scan_backend() -> Check:
    """The backends, with the CPU kernel loaded first (as the first CPU prediction would: from its cache, or compiled
    now), so that its status says what CPU prediction runs, not whether this process happened to use it yet."""
    from nnunetv2_s3mamba.architectures import scan_backend_report
    from nnunetv2_s3mamba.ops.cpu_scan_kernel import build_directory_for, load_cpu_scan_kernel

    cache = build_directory_for(torch.backends.cpu.get_cpu_capability())
    was_cached = cache.is_dir() and any(path.suffix in (".so", ".pyd") for path in cache.iterdir())
    loaded = load_cpu_scan_kernel() is not None
    report = scan_backend_report()
    if loaded:
        report["cpu_inference_kernel"] += f" ({'loaded from the cache' if was_cached else 'built now'} in {cache})"
    detail = ", ".join(f"{key}={value}" for key, value in report.items())
    return Check("selective-scan backend", True, detail)


def check_gpu() -> Check:
    if not torch.cuda.is_available():
        return Check("GPU", None, "no CUDA device: training and prediction run on the CPU (-device cpu)")
    name = torch.cuda.get_device_name(0)
    precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16 (no bf16 on this GPU)"
    return Check("GPU", True, f"{name}, {torch.cuda.device_count()} device(s), autocast {precision}")


def check_network() -> Check:
    """Build a tiny S3-Mamba and check nnU-Net's contract: same weights with deep supervision on and off."""
    from nnunetv2_s3mamba.architectures import build_s3mamba

    overrides = {"dims": (8, 16, 32, 64)}
    with_ds = build_s3mamba("small", 3, 2, deep_supervision=True, **overrides)
    without_ds = build_s3mamba("small", 3, 2, deep_supervision=False, **overrides)
    same_keys = with_ds.state_dict().keys() == without_ds.state_dict().keys()
    with torch.no_grad():
        output = without_ds.eval()(torch.randn(1, 3, 64, 64))
    ok = same_keys and tuple(output.shape) == (1, 2, 64, 64) and bool(torch.isfinite(output).all())
    return Check("S3-Mamba forward (CPU, tiny)", ok, f"output {tuple(output.shape)}",
                 "" if ok else "reinstall nnunetv2_s3mamba and report this as a bug")


CHECKS: list[Callable[[], Check]] = [check_nnunet_version, check_automatic_registration, check_registration,
                                     check_timm, check_trainer_lookup, check_paths, check_scan_backend, check_gpu,
                                     check_network]


def run_checks() -> list[Check]:
    """Run every check; one that crashes becomes a failed line instead of hiding the others."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as error:
            results.append(Check(check.__name__.removeprefix("check_"), False, f"{type(error).__name__}: {error}"))
    return results
