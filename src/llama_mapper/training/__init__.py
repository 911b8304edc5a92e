"""Training: the recipe dataclasses, the trainer, what a run saves, sweeps, and one run end to end.

``CheckpointManager`` (from :mod:`llama_mapper.hub.checkpoints`) is importable from here, as the
seed's API has it; importing this package does not import TRL or torch.

May import every package but ``compliance``, ``commands`` and the top-level ``cli`` and ``demo``.
"""

from llama_mapper.hub.checkpoints import CheckpointError, CheckpointManager

__all__ = ["CheckpointError", "CheckpointManager"]
