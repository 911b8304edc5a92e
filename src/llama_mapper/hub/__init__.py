"""The Hub: ``repo@tag`` resolution and pulls, releases as immutable tags, adapter checkpoints,
model cards, and a local Hub-compatible server for offline work and tests.

May import: ``resources``, ``catalog``, ``mapping``, ``data``, ``models``.
"""
