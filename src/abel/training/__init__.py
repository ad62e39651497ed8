"""Supervised fine-tuning: model sources, tokenization + packing, the DeepSpeed Trainer entry point, the launcher,
and the nodes of a multi-node run (hostfile, ssh check).

Import-light: nothing here imports torch at package import time, so ``abel`` stays fast.
"""
