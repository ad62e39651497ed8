"""The vLLM side of ``generate.backend: vllm``: one process, in vLLM's own environment, serving batches.

vLLM pins a transformers older than this project's, so it lives in its own virtual environment
(``abel install-vllm``) and this file runs there, as a script, importing only the standard library
and vLLM (never ``abel``). ``abel.generation.backends.vllm_backend`` starts it once per stage and
talks to it in JSON lines:

    argv[1]   the engine's settings: {"model", "dtype", "seed", "max_model_len", "tensor_parallel",
              "enforce_eager", "gpu_memory_utilization"}
    stdin     one request per line: {"prompt_token_ids": [[int, ...], ...], "sampling": {...}}
    stdout    one reply per line: {"texts": [str, ...]} in the request's order, or {"error": str}

The prompts arrive as token ids that the parent encoded (``abel.modelio.encode_prompt``), so both
backends feed the model the same tokens. Anything vLLM itself prints goes to stderr, which the
parent keeps in a log file; the protocol has stdout to itself. The first reply line is
{"ready": {...}} once the model is loaded.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    settings = json.loads(sys.argv[1])
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's own copy of stdout...
    os.dup2(2, 1)  # ...and everything else printed to fd 1 (vLLM's logs, warnings) goes to stderr
    sys.stdout = sys.stderr
    try:
        import vllm
        from vllm.inputs import TokensPrompt

        llm = vllm.LLM(model=settings["model"], dtype=settings["dtype"], seed=settings["seed"],
                       max_model_len=settings["max_model_len"], tensor_parallel_size=settings["tensor_parallel"],
                       enforce_eager=settings["enforce_eager"],
                       gpu_memory_utilization=settings["gpu_memory_utilization"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the param
        proto.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        raise SystemExit(1) from None
    proto.write(json.dumps({"ready": {"vllm": vllm.__version__}}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        s = request["sampling"]
        # one SamplingParams per row: its own seed (greedy ignores it); no top-k, as the hf backend
        params = [vllm.SamplingParams(n=1, temperature=s["temperature"], top_p=s["top_p"], top_k=0,
                                      max_tokens=s["max_tokens"], stop=s["stop"] or None, seed=seed,
                                      skip_special_tokens=True) for seed in s["seeds"]]
        try:
            outs = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["prompt_token_ids"]],
                                params, use_tqdm=False)
        except Exception as exc:  # noqa: BLE001
            proto.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            continue
        proto.write(json.dumps({"texts": [o.outputs[0].text for o in outs]}) + "\n")


if __name__ == "__main__":
    main()
