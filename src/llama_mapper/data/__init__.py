"""Data: the synthetic SFT dataset generator and the dataset folder layout (``make data``).

May import: ``resources``, ``catalog``, ``mapping``.
"""

from llama_mapper.data.generator import HELD_OUT_DETECTORS, TEST_VENDORS, TrainingDataGenerator, make_dataset
from llama_mapper.data.io import dataset_card, load_splits, save_dataset, split_file

__all__ = [
    "HELD_OUT_DETECTORS",
    "TEST_VENDORS",
    "TrainingDataGenerator",
    "dataset_card",
    "load_splits",
    "make_dataset",
    "save_dataset",
    "split_file",
]
