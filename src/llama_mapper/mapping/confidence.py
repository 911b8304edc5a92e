"""Calibrated confidence: the adapter's fitted Platt scaling applied to the model's raw answer
probability (fitted by :mod:`llama_mapper.evaluation.calibration`, saved beside the adapter as
``calibration.json``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_FILE = "calibration.json"


def log_feature(probability: float) -> float:
    return math.log(min(max(probability, 1e-6), 1.0))


def apply_platt(probability: float, a: float, b: float) -> float:
    return 1.0 / (1.0 + math.exp(-(a * log_feature(probability) + b)))


@dataclass
class Calibration:
    """Maps the model's raw answer probability to a calibrated confidence with the fitted Platt
    scaling (:func:`apply_platt`). The identity when not fitted."""

    a: float = 1.0
    b: float = 0.0
    ece_before: float | None = None
    ece_after: float | None = None

    @classmethod
    def load(cls, folder: str | None) -> Calibration:
        """The adapter's ``calibration.json`` (``scripts/calibrate.py``), else the identity."""
        path = Path(folder or "") / CALIBRATION_FILE
        if not folder or not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["a"], data["b"], data.get("ece_before"), data.get("ece_after"))

    def __call__(self, probability: float) -> float:
        if self.a == 1.0 and self.b == 0.0:
            return probability
        return apply_platt(probability, self.a, self.b)
