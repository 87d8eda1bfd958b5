"""Studies: a dataset, its split, the trainer rows, a budget and a number of runs, declared once and run by one
command (`s3mamba study run NAME`) through nnU-Net's own tools."""
