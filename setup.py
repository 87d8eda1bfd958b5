"""Install nnunetv2_s3mamba: an S3-Mamba plugin for an unmodified nnU-Net v2."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# Read by Python at startup from site-packages: registers our trainers with nnU-Net (setup_check/startup_hook.py).
STARTUP_HOOK = os.path.join("nnunetv2_s3mamba", "setup_check", "nnunetv2_s3mamba-register-trainers.pth")


class build_py_with_startup_hook(build_py):
    """build_py that also puts STARTUP_HOOK at the top of site-packages, where `site` runs .pth files.

    setuptools installs package_data only inside the package, where no .pth file is ever read. A wheel's top
    level is site-packages: there goes the file. An editable install (PEP 660) builds into a folder that its wheel
    does not ship (it maps the sources instead), so the file goes straight into the editable wheel's folder, which
    setuptools hands to us as the install command's install_lib.
    """

    def run(self) -> None:
        super().run()
        target = self.get_finalized_command("install").install_lib if self.editable_mode else self.build_lib
        self.copy_file(STARTUP_HOOK, os.path.join(target, os.path.basename(STARTUP_HOOK)))


setup(
    name="nnunetv2_s3mamba",
    version="0.1.0",
    description="S3-Mamba (small-size-sensitive Mamba lesion segmentation) as a plugin for nnU-Net v2",
    python_requires=">=3.10",
    packages=find_packages(include=["nnunetv2_s3mamba", "nnunetv2_s3mamba.*"]),
    # The shim folder holds a plain module, not a package: ship it explicitly or setuptools drops it. The startup
    # hook's .pth is listed so that sdists carry it (build_py_with_startup_hook copies it to site-packages).
    package_data={"nnunetv2_s3mamba": ["nnunet_ext/*.py", "ops/*.cpp", "setup_check/*.pth"]},
    install_requires=[
        "nnunetv2>=2.8.1,<2.9",
        "torch>=2.4",  # torch.library.custom_op (ops/mamba_ssm_scan.py), torch.get_autocast_dtype (precision.py)
        "SimpleITK",
        "nibabel",
        "batchgenerators>=0.25",
        "numpy",
        "einops",
        "setuptools",
        "tqdm",
        "matplotlib",
        "tifffile",
        "Pillow",
    ],
    extras_require={
        # Build with: pip install --no-build-isolation "nnunetv2_s3mamba[cuda-kernels]"
        "cuda-kernels": ["mamba-ssm>=2.2", "causal-conv1d>=1.4"],
        "test": ["pytest>=7"],
    },
    entry_points={"console_scripts": ["s3mamba=nnunetv2_s3mamba.cli:main"]},
    cmdclass={"build_py": build_py_with_startup_hook},
)
