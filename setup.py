"""Install nnunetv2_s3mamba: an S3-Mamba plugin for an unmodified nnU-Net v2."""
from setuptools import find_packages, setup

setup(
    name="nnunetv2_s3mamba",
    version="0.1.0",
    description="S3-Mamba (small-size-sensitive Mamba lesion segmentation) as a plugin for nnU-Net v2",
    python_requires=">=3.10",
    packages=find_packages(include=["nnunetv2_s3mamba", "nnunetv2_s3mamba.*"]),
    # The shim folder holds a plain module, not a package: ship it explicitly or setuptools drops it.
    package_data={"nnunetv2_s3mamba": ["nnunet_ext/*.py", "architectures/*.cpp"]},
    install_requires=[
        "nnunetv2>=2.8.1,<2.9",
        "torch>=2.4",  # torch.library.custom_op (mamba_scan_op.py), torch.get_autocast_dtype (precision.py)
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
)
