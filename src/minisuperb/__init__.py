"""minisuperb: the MiniSUPERB benchmark (arXiv 2305.19011) as a Snakemake workflow."""

__version__ = "0.1.0"
