"""Serving: the generation engine, TGI's HTTP protocol, and ``ModelServer``."""
