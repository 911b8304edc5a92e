"""Evaluation: metrics (one exact-set), an adapter scored on dataset rows, the routes on labelled
sets, confidence calibration, the non-model baselines and the release gates.

May import: ``resources``, ``catalog``, ``mapping``, ``data``, ``models``, ``hub``, ``serving``.
"""
