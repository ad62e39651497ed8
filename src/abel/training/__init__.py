"""Supervised fine-tuning: model sources, tokenization + packing, the DeepSpeed Trainer entry point, the launcher.

Import-light: nothing here imports torch at package import time, so ``abel`` stays fast.
"""
