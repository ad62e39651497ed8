"""Three model sources behind ``sft.model``: a from-scratch tiny Llama, a GGUF file, a Hugging Face id/dir.

``prepare_base`` turns the first two into an ordinary Hugging Face model directory once, before
the launcher starts any process: every rank then loads plain safetensors, the GGUF is dequantized
once (not once per rank), and the tiny model's tokenizer is trained on the curated corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from abel.config import SFTParams
from abel.modelio import dequantize_gguf, gguf_path, resolve_model

SourceKind = Literal["tiny", "gguf", "hf"]
EOS = "<|endoftext|>"


class ModelSourceError(ValueError):
    """``sft.model`` names something that cannot be loaded; the message says what and why."""


def source_kind(spec: str) -> SourceKind:
    if spec == "tiny":
        return "tiny"
    if spec.startswith("gguf:"):
        return "gguf"
    return "hf"


def check_source(spec: str, root: Path) -> None:
    """Fail before any training if ``spec`` cannot be loaded (cheap: no weights are read)."""
    if source_kind(spec) == "tiny":
        return
    try:
        where, gguf = resolve_model(spec, root)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelSourceError(f"sft.model: {exc}") from None
    if gguf is not None or Path(where).is_dir():
        return
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(where)
    except OSError as exc:
        raise ModelSourceError(
            f"sft.model: cannot load {spec!r} from the Hugging Face hub or its cache ({exc.__class__.__name__}). "
            "Offline, download it elsewhere and set sft.model to the local directory.") from None


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int) -> object:
    """A byte-level BPE trained on ``texts`` (the curated corpus), wrapped as a fast HF tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, pad_token=EOS,
                                   model_max_length=1_000_000)


TINY_CONTEXT = 2048


def tiny_model(params: SFTParams, vocab_size: int, eos_id: int, seed: int) -> object:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    t = params.tiny
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
                      num_hidden_layers=t.layers, num_attention_heads=t.heads, num_key_value_heads=t.heads,
                      # RoPE has no weights: this only says how far generation may go (vLLM's rotary
                      # cache ends here; sft.max_length, the training length, is often shorter)
                      max_position_embeddings=max(params.max_length, TINY_CONTEXT), tie_word_embeddings=True,
                      bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def prepare_base(params: SFTParams, corpus: list[str], out_dir: Path, root: Path) -> str:
    """The model to fine-tune, as something ``from_pretrained`` loads: a written dir or a hub id."""
    kind = source_kind(params.model)
    if kind == "hf":
        return resolve_model(params.model, root)[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "tiny":
        tok = train_tiny_tokenizer(corpus, params.tiny.vocab_size)
        model = tiny_model(params, len(tok), tok.eos_token_id, params.seed)
    else:  # an ordinary fp32 checkpoint of the GGUF's weights (the generation backend vllm reads the same)
        dequantize_gguf(gguf_path(params.model), out_dir)
        return str(out_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return str(out_dir)


def parameter_count(model_dir: str) -> int:
    """Parameters of the model in ``model_dir`` (from its config, without loading weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters())
