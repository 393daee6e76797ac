"""Compression methods; each module registers one method with ``@register(name)``.

Modules here must not import torch/faiss at import time: the registry imports all of them to list
methods.
"""
