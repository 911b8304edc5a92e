"""Models: the base model (Hub, local folder, bundled GGUF or tiny random), the fine-tuned
retriever, and the precision a machine can run.

May import: ``resources``, ``catalog``, ``mapping``, ``data``. torch and transformers are imported
inside the functions that need them.
"""
