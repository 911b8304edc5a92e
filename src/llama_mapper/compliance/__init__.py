"""Compliance: evidence reports (JSON, CSV, HTML) of mapped events per framework control.

May import: ``resources``, ``catalog``, ``mapping``.
"""
