"""Registers and spills of the "triton" scan kernels (`triton_scan.py`) per tile size, without a GPU.

Each kernel's (channels, N) fp32 state tiles live in registers: a tile too large spills to local memory, which
costs far more than it saves. Triton compiles for a named target on any machine and ships ptxas, so this compiles
both kernels for each tile configuration (bf16 inputs, N = 16) and reads ptxas' resource report. Prints JSON.
Needs TRITON_INTERPRET unset or 0 (the interpreter compiles nothing).

    python benchmarks/ss2d_kernel_registers.py [--arch 90] [--d-state 16] [--tiles 16,32,1 32,64,2 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from nnunetv2_s3mamba.ops import triton_scan, triton_scan_kernels

BF16_INPUTS = {"u_ptr", "dt_ptr", "b_ptr", "c_ptr", "dy_ptr", "y_ptr", "du_ptr", "ddt_ptr"}  # the rest are fp32
KERNELS = (("forward", triton_scan_kernels.four_direction_scan_forward),
           ("backward", triton_scan_kernels.four_direction_scan_backward))
CONSTEXPRS = ("DSTATE", "BLOCK_D", "CHECKPOINT")


def kernel_resources(kernel, d_state: int, block_d: int, checkpoint: int, num_warps: int, arch: int) -> dict:
    """Compile `kernel` for sm_<arch> and return ptxas' registers and spill bytes."""
    names = kernel.arg_names
    signature = {name: ("constexpr" if name in CONSTEXPRS else
                        ("*bf16" if name in BF16_INPUTS else "*fp32") if name.endswith("_ptr") else "i32")
                 for name in names}
    constants = {"DSTATE": d_state, "BLOCK_D": block_d, "CHECKPOINT": checkpoint}
    source = ASTSource(fn=kernel, signature=signature,
                       constexprs={(names.index(name),): value for name, value in constants.items()})
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as ptx:
        ptx.write(compiled.asm["ptx"])
        ptx.flush()
        report = subprocess.run([ptxas, "-v", f"--gpu-name=sm_{arch}a" if arch >= 90 else f"--gpu-name=sm_{arch}",
                                 ptx.name, "-o", os.devnull], capture_output=True, text=True, check=True).stderr
    registers = int(re.search(r"Used (\d+) registers", report).group(1))
    spills = [int(v) for v in re.findall(r"(\d+) bytes spill (?:stores|loads)", report)]
    return {"registers": registers, "spill_bytes": sum(spills)}


def tile_string(tiles: dict) -> str:
    return ",".join(str(tiles[key]) for key in triton_scan.TILE_KEYS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 (H100/H200), 80 (A100)")
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--tiles", nargs="+", default=None,
                        help="block_d,checkpoint,num_warps (default: the kernel's tiles_for(d_state))")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise SystemExit("ss2d_kernel_registers.py: unset TRITON_INTERPRET (the interpreter compiles nothing)")
    rows = []
    for tiles in args.tiles or [tile_string(triton_scan.tiles_for(args.d_state))]:
        block_d, checkpoint, num_warps = (int(v) for v in tiles.split(","))
        rows.append({"tiles": tiles, **{name: kernel_resources(kernel, args.d_state, block_d, checkpoint,
                                                                num_warps, args.arch)
                                        for name, kernel in KERNELS}})
    print(json.dumps({"benchmark": "ss2d_kernel_registers", "triton": triton.__version__, "arch": args.arch,
                      "d_state": args.d_state, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
