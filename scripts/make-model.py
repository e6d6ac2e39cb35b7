#!/usr/bin/python3
"""Writes a Llama GGUF with random weights of a named shape, for tests and benchmarks.

usage: make-model.py SHAPE OUT.gguf [--type f16|f32] [--seed N]

Weights are normal with std 0.02 (--std) and norms are 1, so speed and memory behave like the real
model (values do not matter for either). The vocabulary, scores and token types come from
../shared/models/tokenizers/llama2/ggml-vocab-llama-spm.gguf (or $KILN_SHARED/models/...).
Other types come from `kiln quantize`.
"""
import argparse
import os
import sys

import numpy as np

import gguf

SHAPES = {
    # dims are multiples of 256 so that every block type applies
    "tiny": dict(n_embd=256, n_layer=2, n_head=4, n_kv_head=2, n_ff=768, n_ctx=512),
    "tinyllama-1.1b": dict(n_embd=2048, n_layer=22, n_head=32, n_kv_head=4, n_ff=5632, n_ctx=2048),
    "llama2-7b": dict(n_embd=4096, n_layer=32, n_head=32, n_kv_head=32, n_ff=11008, n_ctx=4096),
}
F32, F16 = 0, 1


def vocab_path():
    shared = os.environ.get("KILN_SHARED") or os.path.join(os.path.dirname(__file__), "..", "..", "shared")
    return os.path.join(shared, "models", "tokenizers", "llama2", "ggml-vocab-llama-spm.gguf")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shape", choices=sorted(SHAPES))
    p.add_argument("out")
    p.add_argument("--type", choices=["f16", "f32"], default="f16")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--std", type=float, default=0.02,
                   help="weight std; larger values give peaked next-token distributions (tests of greedy agreement)")
    a = p.parse_args()
    s = SHAPES[a.shape]
    vocab = gguf.Reader(vocab_path()).metadata
    n_vocab = len(vocab["tokenizer.ggml.tokens"])
    rng = np.random.default_rng(a.seed)

    w = gguf.Writer()
    w.add("general.architecture", gguf.STRING, "llama")
    w.add("general.name", gguf.STRING, f"kiln random {a.shape}")
    w.add("general.file_type", 4, 0 if a.type == "f32" else 1)
    for key, value in [("context_length", s["n_ctx"]), ("embedding_length", s["n_embd"]),
                       ("block_count", s["n_layer"]), ("feed_forward_length", s["n_ff"]),
                       ("attention.head_count", s["n_head"]), ("attention.head_count_kv", s["n_kv_head"]),
                       ("rope.dimension_count", s["n_embd"] // s["n_head"])]:
        w.add("llama." + key, 4, value)
    w.add("llama.attention.layer_norm_rms_epsilon", 6, 1e-5)
    w.add("llama.rope.freq_base", 6, 10000.0)
    w.add("tokenizer.ggml.model", gguf.STRING, "llama")
    w.add("tokenizer.ggml.tokens", gguf.ARRAY, (gguf.STRING, vocab["tokenizer.ggml.tokens"]))
    w.add("tokenizer.ggml.scores", gguf.ARRAY, (6, vocab["tokenizer.ggml.scores"]))
    w.add("tokenizer.ggml.token_type", gguf.ARRAY, (5, vocab["tokenizer.ggml.token_type"]))
    for key in ("bos_token_id", "eos_token_id", "unknown_token_id"):
        w.add("tokenizer.ggml." + key, 4, vocab["tokenizer.ggml." + key])
    w.add("tokenizer.ggml.add_bos_token", 7, True)

    wtype, dtype = (F32, np.float32) if a.type == "f32" else (F16, np.float16)

    def matrix(name, cols, rows):
        def produce():
            return (rng.standard_normal((rows, cols), dtype=np.float32) * a.std).astype(dtype).tobytes()
        w.add_tensor(name, [cols, rows], wtype, cols * rows * np.dtype(dtype).itemsize, produce)

    def norm(name, n):
        w.add_tensor(name, [n], F32, 4 * n, lambda: np.ones(n, np.float32).tobytes())

    d, hd = s["n_embd"], s["n_embd"] // s["n_head"]
    matrix("token_embd.weight", d, n_vocab)
    for l in range(s["n_layer"]):
        b = f"blk.{l}."
        norm(b + "attn_norm.weight", d)
        matrix(b + "attn_q.weight", d, d)
        matrix(b + "attn_k.weight", d, s["n_kv_head"] * hd)
        matrix(b + "attn_v.weight", d, s["n_kv_head"] * hd)
        matrix(b + "attn_output.weight", d, d)
        norm(b + "ffn_norm.weight", d)
        matrix(b + "ffn_gate.weight", d, s["n_ff"])
        matrix(b + "ffn_up.weight", d, s["n_ff"])
        matrix(b + "ffn_down.weight", s["n_ff"], d)
    norm("output_norm.weight", d)
    matrix("output.weight", d, n_vocab)
    w.write(a.out)
    print(f"{a.out}: {a.shape}, {a.type}", file=sys.stderr)


if __name__ == "__main__":
    main()
