"""Llama Mapper: map raw AI-safety detector outputs to one canonical taxonomy and compliance controls."""

__version__ = "0.1.0"
