"""Generation: batched Hugging Face backend, kill-safe resumable runner, maj@k / pass@k."""
