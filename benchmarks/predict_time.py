"""Inference through the real `nnUNetv2_predict` on CVC-ClinicDB frames: S3-Mamba against nnU-Net's U-Net, on the
CPU or a GPU, in one run.

Issue 6 asks that the pure-PyTorch path stay practical (one 384x288 frame with `-device cpu` within 3x of nnU-Net's
own U-Net) and for the GPU prediction time of the CVC test frames. Prediction time does not depend on the weights,
so this benchmark skips training: it converts CVC-ClinicDB frames, runs `nnUNetv2_plan_and_preprocess`, and writes a
`checkpoint_final.pth` for each trainer through the trainer itself (`initialize()`, the files `on_train_start`
copies, `save_checkpoint`), i.e. a results folder exactly as nnU-Net would leave it after zero iterations. Then it
times, in one run and interleaved so that both trainers see the same load:

- `nnUNetv2_predict ... -device D -f 0 --disable_tta` on `--predict-frames` frames (`-npp 1 -nps 1` on the CPU,
  `-npp 4 -nps 4` on a GPU): the whole command, wall clock, nothing subtracted (`repeats` times each), and the span
  from nnU-Net's first "Predicting <case>" line to its last "done with <case>" line (nnU-Net 2.8.1 prints no
  per-case time itself; the span covers the sliding windows and the hand-off to export);
- the same command with nnU-Net's default test-time mirroring (4 forward passes for 2D), `tta_repeats` times each;
- the network alone: one tile of the plan's patch size, batch 1, no grad, deep supervision off, under the autocast
  nnU-Net's predictor uses on a GPU, in the checkpoint process (CPU: `torch.set_num_threads(2)`, what
  `nnUNetv2_predict -device cpu` sets on the 2-core dev box).

    python benchmarks/predict_time.py [--repeats 3] [--tta-repeats 1] [--frames 10]
                                      [--trainers nnUNetTrainer S3MambaTrainer] [--data ../shared/data/CVC-ClinicDB]
    python benchmarks/predict_time.py --device cuda --frames 184 --predict-frames 184 --repeats 2

Prints one JSON object. The data stay outside the repository (a temporary folder, removed at the end).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASET_ID = 731
CONFIGURATION = "2d"
FOLD = 0
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "CVC-ClinicDB"


def nnunet_env(root: Path) -> dict[str, str]:
    """nnU-Net folders under `root` and our trainers registered. Threads are left to nnU-Net: `-device cpu` asks
    for all cores and its predictor caps them at nnUNet_def_n_proc (default 8), so this must not be set here
    (tests/support sets it to 1, which would make nnU-Net predict on one thread)."""
    from nnunetv2_s3mamba.setup_check import ext_trainer_dir

    env = dict(os.environ)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (root / name).mkdir(parents=True, exist_ok=True)
        env[name] = str(root / name)
    env.pop("nnUNet_def_n_proc", None)
    env.update({"nnUNet_extTrainer": str(ext_trainer_dir()), "nnUNet_compile": "f", "PYTHONUNBUFFERED": "1"})
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result.stdout


def make_checkpoint(trainer_name: str, tile_repeats: int, device_name: str) -> dict:
    """In a process whose environment points at the benchmark's folders: the trainer's results folder for fold 0
    with an untrained `checkpoint_final.pth`, and the network-only tile time. Returns what to report."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import join, save_json
    from nnunetv2.run.run_training import get_trainer_from_args

    device = torch.device(device_name)
    trainer = get_trainer_from_args(str(DATASET_ID), CONFIGURATION, FOLD, trainer_name, device=device)
    trainer.initialize()
    trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()  # sets the mirroring axes the checkpoint stores
    os.makedirs(trainer.output_folder, exist_ok=True)
    save_json(trainer.plans_manager.plans, join(trainer.output_folder_base, "plans.json"), sort_keys=False)
    save_json(trainer.dataset_json, join(trainer.output_folder_base, "dataset.json"), sort_keys=False)
    shutil.copyfile(join(trainer.preprocessed_dataset_folder_base, "dataset_fingerprint.json"),
                    join(trainer.output_folder_base, "dataset_fingerprint.json"))
    trainer.save_checkpoint(join(trainer.output_folder, "checkpoint_final.pth"))

    if device.type == "cpu":
        torch.set_num_threads(2)
    trainer.set_deep_supervision_enabled(False)
    network = trainer.network.eval()
    patch = list(trainer.configuration_manager.patch_size)
    tile = torch.randn(1, trainer.num_input_channels, *patch, device=device)
    times = []
    # nnU-Net's predictor runs CUDA under autocast (its dtype: bf16 where our network set it, else fp16).
    with torch.no_grad(), torch.autocast(device.type, enabled=device.type == "cuda"):
        for _ in range(3):  # warm-up (cuDNN autotuning on a GPU)
            network(tile)
        for _ in range(tile_repeats):
            synchronize(device)
            start = time.perf_counter()
            network(tile)
            synchronize(device)
            times.append(time.perf_counter() - start)
    return {"patch_size": patch, "parameters": sum(p.numel() for p in network.parameters()),
            "network_class": type(network).__name__, "tile_s": times}


def synchronize(device) -> None:
    if device.type == "cuda":
        import torch
        torch.cuda.synchronize(device)


def timed_predict(trainer: str, input_dir: Path, output_dir: Path, env: dict[str, str], tta: bool,
                  device: str) -> dict:
    """Wall clock of the whole `nnUNetv2_predict` command, and the span between its per-case progress lines."""
    workers = "1" if device == "cpu" else "4"
    args = ["nnUNetv2_predict", "-i", str(input_dir), "-o", str(output_dir), "-d", str(DATASET_ID),
            "-c", CONFIGURATION, "-tr", trainer, "-f", str(FOLD), "-device", device, "-npp", workers, "-nps", workers]
    if not tta:
        args.append("--disable_tta")
    stamps: dict[str, float] = {}
    lines = []
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Predicting ") and "case" not in stamps:
            stamps["case"] = time.perf_counter()
        elif line.startswith("done with "):
            stamps["done"] = time.perf_counter()
    returncode = process.wait()
    wall = time.perf_counter() - start
    if returncode != 0 or len(list(output_dir.glob("*.png"))) != len(list(input_dir.glob("*.png"))):
        raise RuntimeError(f"{' '.join(args)} exited {returncode} without a prediction:\n{''.join(lines)[-4000:]}")
    case = stamps["done"] - stamps["case"] if {"case", "done"} <= stamps.keys() else None
    return {"command_s": wall, "case_span_s": case}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "all": [round(v, 3) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CVC-ClinicDB folder (images/, masks/)")
    parser.add_argument("--frames", type=int, default=10, help="frames converted for planning (not trained on)")
    parser.add_argument("--predict-frames", type=int, default=1, help="frames in each timed prediction")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="nnUNetv2_predict's -device")
    parser.add_argument("--trainers", nargs="+", default=["nnUNetTrainer", "S3MambaTrainer"])
    parser.add_argument("--repeats", type=int, default=3, help="timed predictions per trainer, no TTA")
    parser.add_argument("--tta-repeats", type=int, default=1, help="timed predictions per trainer with TTA")
    parser.add_argument("--tile-repeats", type=int, default=3, help="timed network-only tiles per trainer")
    parser.add_argument("--make-checkpoint", metavar="TRAINER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_checkpoint:  # internal: runs inside the benchmark's nnU-Net environment
        print(json.dumps(make_checkpoint(args.make_checkpoint, args.tile_repeats, args.device)))
        return

    from nnunetv2_s3mamba.conversion import convert_cvc_clinicdb

    report: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
                    "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(),
                    "command": " ".join(["python", "benchmarks/predict_time.py"] + sys.argv[1:])}
    import torch
    report["torch"] = torch.__version__
    if args.device == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    if args.predict_frames > args.frames:
        raise SystemExit(f"--predict-frames {args.predict_frames} exceeds --frames {args.frames}")
    root = Path(tempfile.mkdtemp(prefix="s3mamba_predict_time_"))
    try:
        env = nnunet_env(root)
        raw = convert_cvc_clinicdb(args.data, root / "nnUNet_raw", DATASET_ID, limit=args.frames,
                                   show_progress=False)
        processes = str(min(8, os.cpu_count() or 1))
        run(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", CONFIGURATION, "-np", processes], env)
        frames = sorted((raw / "imagesTr").glob("*_0000.png"))[:args.predict_frames]
        input_dir = root / "input"
        input_dir.mkdir()
        for frame in frames:
            shutil.copy(frame, input_dir / frame.name)
        from PIL import Image
        report["frames"] = {"count": len(frames), "first": frames[0].name,
                            "width_height": list(Image.open(frames[0]).size)}

        networks = {}
        for trainer in args.trainers:
            out = run([sys.executable, __file__, "--make-checkpoint", trainer, "--device", args.device,
                       "--tile-repeats", str(args.tile_repeats)], env)
            networks[trainer] = json.loads(out.strip().splitlines()[-1])

        runs: dict = {t: {"no_tta": [], "tta": []} for t in args.trainers}
        for mode, repeats in (("no_tta", args.repeats), ("tta", args.tta_repeats)):
            for index in range(repeats):
                for trainer in args.trainers:  # interleaved: both trainers see the same background load
                    output_dir = root / f"out_{trainer}_{mode}_{index}"
                    runs[trainer][mode].append(timed_predict(trainer, input_dir, output_dir, env, mode == "tta",
                                                             args.device))

        report["trainers"] = {}
        for trainer in args.trainers:
            entry = dict(networks[trainer])
            entry["tile_s"] = summary(entry["tile_s"])
            for mode in ("no_tta", "tta"):
                if runs[trainer][mode]:
                    entry[f"predict_{mode}_command_s"] = summary([r["command_s"] for r in runs[trainer][mode]])
                    spans = [r["case_span_s"] for r in runs[trainer][mode] if r["case_span_s"] is not None]
                    if spans:
                        entry[f"predict_{mode}_case_span_s"] = summary(spans)
            report["trainers"][trainer] = entry
        if len(args.trainers) == 2:
            base, other = (report["trainers"][t] for t in args.trainers)
            ratios = {}
            for key in ("predict_no_tta_command_s", "predict_no_tta_case_span_s", "predict_tta_command_s",
                        "predict_tta_case_span_s", "tile_s"):
                if key in base and key in other:
                    ratios[key] = round(other[key]["median"] / base[key]["median"], 2)
            report[f"ratio_{args.trainers[1]}_over_{args.trainers[0]}"] = ratios
        report["load_average_end"] = os.getloadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
