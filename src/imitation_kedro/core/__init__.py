"""Shared rules that know nothing else of the project: typed params, seeds, slugs, progress,
devices and the caption phrase rule. Torch-free at import time."""
