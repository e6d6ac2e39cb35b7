#!/usr/bin/python3
"""Writes a GGUF with random weights of a named shape, for tests and benchmarks.

usage: make-model.py SHAPE OUT.gguf [--type f16|f32] [--seed N] [--chat-template FILE] [--random-blocks TYPE]

Shapes of other architectures than llama (qwen2-tiny, qwen3-tiny, qwen3moe-tiny, gemma3-tiny,
phi3-tiny for tests; qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini and qwen3-30b-a3b-8l for
benchmarks) carry each
architecture's own tensors and keys as llama.cpp's converter writes them: Q/K/V biases (qwen2),
per-head Q/K norms and head sizes other than n_embd / n_head (qwen3, gemma3), post-norms,
sliding-window layers and linear RoPE scaling (gemma3), fused QKV and gate+up with LongRoPE
factors (phi3). Their norm weights are random around 1 (std 0.2) so that norm conventions
matter; the small shapes and phi3-mini take the Llama 2 vocabulary (Phi-3's is 32064 tokens), the
other large ones the Llama 3 byte-level BPE (128256 tokens; Qwen's 151936 and Gemma 3's 262144 are not
in shared/), marked with Qwen's pre-tokenizer for the Qwen shapes.

Weights are normal with std 0.02 (--std) and norms are 1, so speed and memory behave like the real
model (values do not matter for either). The vocabulary, scores and token types come from
../shared/models/tokenizers/llama2/ggml-vocab-llama-spm.gguf (or $KILN_SHARED/models/...); for
llama3-tiny, the byte-level BPE vocabulary and merges of ../shared/models/tokenizers/llama3/tokenizer.json,
with Llama 3's RoPE base (500000), Llama 3.1's frequency factors (rope_freqs.weight) and the output
tied to the token embeddings, as Llama 3.2 1B has it. moe-tiny and mixtral-1b are Mixtral-style
Mixture-of-Experts models (llama.expert_count, ffn_gate_inp and the 3-D ffn_*_exps tensors); their
routers get std 1 (--router-std) so that routing is decided, as in a trained model, rather than a
tie that rounding flips. Other types come from `kiln quantize`.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

import gguf

SHAPES = {
    # dims are multiples of 256 so that every block type applies
    "tiny": dict(n_embd=256, n_layer=2, n_head=4, n_kv_head=2, n_ff=768, n_ctx=512),
    "tinyllama-1.1b": dict(n_embd=2048, n_layer=22, n_head=32, n_kv_head=4, n_ff=5632, n_ctx=2048),
    "llama2-7b": dict(n_embd=4096, n_layer=32, n_head=32, n_kv_head=32, n_ff=11008, n_ctx=4096),
    "llama2-13b": dict(n_embd=5120, n_layer=40, n_head=40, n_kv_head=40, n_ff=13824, n_ctx=4096),
    "llama3-tiny": dict(n_embd=256, n_layer=2, n_head=4, n_kv_head=2, n_ff=768, n_ctx=512, llama3=True),
    # Mixtral-style: every layer's FFN is 8 experts of which the router picks 2 per token
    "moe-tiny": dict(n_embd=256, n_layer=2, n_head=4, n_kv_head=2, n_ff=512, n_ctx=512, n_expert=8, n_expert_used=2),
    # about 1.3B parameters in all, 0.45B active per token: a Mixtral that fits this machine
    "mixtral-1b": dict(n_embd=1024, n_layer=16, n_head=16, n_kv_head=4, n_ff=3072, n_ctx=2048,
                       n_expert=8, n_expert_used=2),
    # other architectures: small shapes for the reference and invariance tests
    "qwen2-tiny": dict(arch="qwen2", n_embd=256, n_layer=2, n_head=4, n_kv_head=2, n_ff=768, n_ctx=512, tied=True),
    "qwen3-tiny": dict(arch="qwen3", n_embd=256, n_layer=2, n_head=4, n_kv_head=2, head_dim=96, n_ff=768, n_ctx=512),
    "qwen3moe-tiny": dict(arch="qwen3moe", n_embd=256, n_layer=2, n_head=4, n_kv_head=2, head_dim=96, n_ff=768,
                          n_ff_exp=256, n_ctx=512, n_expert=8, n_expert_used=2),
    # seven layers: five sliding (window 16), one global, one sliding; global RoPE scaled linearly
    "gemma3-tiny": dict(arch="gemma3", n_embd=256, n_layer=7, n_head=4, n_kv_head=1, head_dim=128, n_ff=768,
                        n_ctx=2048, window=16, rope_base=1000000.0, rope_linear=8.0, tied=True),
    # LongRoPE: the long factors apply past a context of 64
    "phi3-tiny": dict(arch="phi3", n_embd=256, n_layer=2, n_head=4, n_kv_head=4, n_ff=768, n_ctx=512, ctx_orig=64),
    # and the real shapes, for benchmarks
    "qwen2.5-0.5b": dict(arch="qwen2", n_embd=896, n_layer=24, n_head=14, n_kv_head=2, n_ff=4864, n_ctx=32768,
                         rope_base=1000000.0, tied=True, vocab="llama3"),
    "qwen3-0.6b": dict(arch="qwen3", n_embd=1024, n_layer=28, n_head=16, n_kv_head=8, head_dim=128, n_ff=3072,
                       n_ctx=40960, rope_base=1000000.0, tied=True, vocab="llama3"),
    "gemma3-1b": dict(arch="gemma3", n_embd=1152, n_layer=26, n_head=4, n_kv_head=1, head_dim=256, n_ff=6912,
                      n_ctx=32768, window=512, rope_base=1000000.0, tied=True, vocab="llama3"),
    "phi3-mini": dict(arch="phi3", n_embd=3072, n_layer=32, n_head=32, n_kv_head=32, n_ff=8192, n_ctx=4096),
    # Qwen3-30B-A3B's layers (128 experts of FFN 768, 8 per token) but 8 of its 48, so that it fits
    # this machine: 4.9B parameters, 0.6B of them read per token
    "qwen3-30b-a3b-8l": dict(arch="qwen3moe", n_embd=2048, n_layer=8, n_head=32, n_kv_head=4, head_dim=128, n_ff=6144,
                             n_ff_exp=768, n_ctx=40960, n_expert=128, n_expert_used=8, rope_base=1000000.0,
                             vocab="llama3"),
}
F32, F16 = 0, 1
# Types a speed file's matrices can be written in as random blocks: the codebook types (kiln quantizes
# them only with an importance matrix, meaningless for random weights), and Q4_0 / Q8_0 for shapes whose
# F16 file would not fit on the disk. ggml id, weights and bytes per block, llama.cpp's file type.
RANDOM_BLOCK_TYPES = {"q4_0": (2, 32, 18, 2), "q8_0": (8, 32, 34, 7),
                      "iq2_xxs": (16, 256, 66, 19), "iq2_xs": (17, 256, 74, 20), "iq3_xxs": (18, 256, 98, 23),
                      "iq1_s": (19, 256, 50, 24), "iq3_s": (21, 256, 110, 26), "iq2_s": (22, 256, 82, 28),
                      "iq1_m": (29, 256, 56, 31)}


def random_blocks(rng, name, n_blocks):
    """Random blocks of a type whose f16 scale is 1e-4, for speed measurements only."""
    blocks = rng.integers(0, 256, size=(n_blocks, RANDOM_BLOCK_TYPES[name][2]), dtype=np.uint8)
    h = int(np.float16(1e-4).view(np.uint16))
    if name == "iq1_m":  # the scale's four nibbles top the four 16-bit words of `scales` (bytes 48..55)
        words = blocks[:, 48:56].copy().view(np.uint16)
        for k in range(4):
            words[:, k] = (words[:, k] & 0x0FFF) | (((h >> 4 * k) & 0xF) << 12)
        blocks[:, 48:56] = words.view(np.uint8)
    else:
        blocks[:, 0:2] = np.array([h], np.uint16).view(np.uint8)
    return blocks.tobytes()


def shared_path(*parts):
    shared = os.environ.get("KILN_SHARED") or os.path.join(os.path.dirname(__file__), "..", "..", "shared")
    return os.path.join(shared, "models", "tokenizers", *parts)


def add_llama2_vocab(w):
    vocab = gguf.Reader(shared_path("llama2", "ggml-vocab-llama-spm.gguf")).metadata
    w.add("tokenizer.ggml.model", gguf.STRING, "llama")
    w.add("tokenizer.ggml.tokens", gguf.ARRAY, (gguf.STRING, vocab["tokenizer.ggml.tokens"]))
    w.add("tokenizer.ggml.scores", gguf.ARRAY, (6, vocab["tokenizer.ggml.scores"]))
    w.add("tokenizer.ggml.token_type", gguf.ARRAY, (5, vocab["tokenizer.ggml.token_type"]))
    for key in ("bos_token_id", "eos_token_id", "unknown_token_id"):
        w.add("tokenizer.ggml." + key, 4, vocab["tokenizer.ggml." + key])
    w.add("tokenizer.ggml.add_bos_token", 7, True)
    return len(vocab["tokenizer.ggml.tokens"])


def add_llama3_vocab(w, pre="llama-bpe"):
    with open(shared_path("llama3", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    entries = {i: (text, 1) for text, i in tj["model"]["vocab"].items()}
    for t in tj["added_tokens"]:
        entries[t["id"]] = (t["content"], 3 if t.get("special") else 4)
    n = max(entries) + 1
    tokens = [entries.get(i, (f"[PAD{i}]", 5))[0] for i in range(n)]
    types = [entries.get(i, ("", 5))[1] for i in range(n)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    ids = {text: i for i, text in enumerate(tokens)}
    w.add("tokenizer.ggml.model", gguf.STRING, "gpt2")
    w.add("tokenizer.ggml.pre", gguf.STRING, pre)
    w.add("tokenizer.ggml.tokens", gguf.ARRAY, (gguf.STRING, tokens))
    w.add("tokenizer.ggml.token_type", gguf.ARRAY, (5, types))
    w.add("tokenizer.ggml.merges", gguf.ARRAY, (gguf.STRING, merges))
    w.add("tokenizer.ggml.bos_token_id", 4, ids["<|begin_of_text|>"])
    w.add("tokenizer.ggml.eos_token_id", 4, ids["<|end_of_text|>"])
    w.add("tokenizer.ggml.eot_token_id", 4, ids["<|eot_id|>"])
    w.add("tokenizer.ggml.add_bos_token", 7, True)
    return n


def llama31_freq_factors(rot_dim, base, factor=8.0, low=1.0, high=4.0, original_ctx=8192):
    """Llama 3.1's RoPE scaling as per-pair divisors of the frequencies (rope_freqs.weight)."""
    out = []
    for i in range(0, rot_dim, 2):
        wavelen = 2 * math.pi / base ** (-i / rot_dim)
        if wavelen < original_ctx / high:
            out.append(1.0)
        elif wavelen > original_ctx / low:
            out.append(factor)
        else:
            smooth = (original_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shape", choices=sorted(SHAPES))
    p.add_argument("out")
    p.add_argument("--type", choices=["f16", "f32"], default="f16")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--std", type=float, default=0.02,
                   help="weight std; larger values give peaked next-token distributions (tests of greedy agreement)")
    p.add_argument("--router-std", type=float, default=1.0, help="std of the MoE routers' weights")
    p.add_argument("--chat-template", metavar="FILE", help="store this Jinja file as tokenizer.chat_template")
    p.add_argument("--random-blocks", metavar="TYPE", choices=sorted(RANDOM_BLOCK_TYPES),
                   help="write the matrices (not token_embd) as random blocks of this type, for speed measurements")
    a = p.parse_args()
    s = SHAPES[a.shape]
    llama3 = s.get("llama3", False)
    rng = np.random.default_rng(a.seed)

    arch = s.get("arch", "llama")
    hd = s.get("head_dim", s["n_embd"] // s["n_head"])
    w = gguf.Writer()
    w.add("general.architecture", gguf.STRING, arch)
    w.add("general.name", gguf.STRING, f"kiln random {a.shape}")
    w.add("general.file_type", 4, RANDOM_BLOCK_TYPES[a.random_blocks][3] if a.random_blocks else 0 if a.type == "f32" else 1)
    for key, value in [("context_length", s["n_ctx"]), ("embedding_length", s["n_embd"]),
                       ("block_count", s["n_layer"]), ("feed_forward_length", s["n_ff"]),
                       ("attention.head_count", s["n_head"]), ("attention.head_count_kv", s["n_kv_head"]),
                       ("rope.dimension_count", hd)]:
        w.add(f"{arch}.{key}", 4, value)
    if "head_dim" in s:
        w.add(f"{arch}.attention.key_length", 4, hd)
        w.add(f"{arch}.attention.value_length", 4, hd)
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", 6, 1e-6 if arch != "llama" else 1e-5)
    n_expert = s.get("n_expert", 0)
    if n_expert:
        w.add(f"{arch}.expert_count", 4, n_expert)
        w.add(f"{arch}.expert_used_count", 4, s["n_expert_used"])
        if "n_ff_exp" in s:
            w.add(f"{arch}.expert_feed_forward_length", 4, s["n_ff_exp"])
    if "window" in s:
        w.add(f"{arch}.attention.sliding_window", 4, s["window"])
    if "rope_linear" in s:
        w.add(f"{arch}.rope.scaling.type", gguf.STRING, "linear")
        w.add(f"{arch}.rope.scaling.factor", 6, s["rope_linear"])
    if "ctx_orig" in s:
        w.add(f"{arch}.rope.scaling.original_context_length", 4, s["ctx_orig"])
        w.add(f"{arch}.rope.scaling.attn_factor", 6,
              math.sqrt(1 + math.log(s["n_ctx"] / s["ctx_orig"]) / math.log(s["ctx_orig"])))
    rope_base = s.get("rope_base", 500000.0 if llama3 else 10000.0)
    w.add(f"{arch}.rope.freq_base", 6, rope_base)
    if a.chat_template:
        w.add("tokenizer.chat_template", gguf.STRING, open(a.chat_template, encoding="utf-8").read())
    if s.get("vocab") == "llama3":
        n_vocab = add_llama3_vocab(w, pre="qwen2" if arch.startswith("qwen") else "llama-bpe")
    else:
        n_vocab = add_llama3_vocab(w) if llama3 else add_llama2_vocab(w)

    wtype, dtype = (F32, np.float32) if a.type == "f32" else (F16, np.float16)

    def matrix(name, cols, rows, n=1, std=a.std, ttype=None):
        dims = [cols, rows] + ([n] if n > 1 else [])
        if a.random_blocks and ttype is None and name != "token_embd.weight":
            tid, be, bb, _ = RANDOM_BLOCK_TYPES[a.random_blocks]
            n_blocks = n * rows * cols // be
            w.add_tensor(name, dims, tid, n_blocks * bb, lambda: random_blocks(rng, a.random_blocks, n_blocks))
            return
        t, dt = (wtype, dtype) if ttype is None else ttype
        def produce():
            return (rng.standard_normal((n, rows, cols), dtype=np.float32) * std).astype(dt).tobytes()
        w.add_tensor(name, dims, t, n * cols * rows * np.dtype(dt).itemsize, produce)

    other = arch != "llama"

    def vector(name, n, mean, std):
        w.add_tensor(name, [n], F32, 4 * n,
                     lambda: (mean + std * rng.standard_normal(n, dtype=np.float32)).astype(np.float32).tobytes())

    def norm(name, n):
        if other:  # around 1, so that a norm convention (w or 1 + w) shows in the logits
            vector(name, n, 1.0, 0.2)
        else:
            w.add_tensor(name, [n], F32, 4 * n, lambda: np.ones(n, np.float32).tobytes())

    d = s["n_embd"]
    q_dim, kv_dim, n_ff = s["n_head"] * hd, s["n_kv_head"] * hd, s["n_ff"]
    matrix("token_embd.weight", d, n_vocab)
    if llama3:
        factors = llama31_freq_factors(hd, rope_base)
        w.add_tensor("rope_freqs.weight", [hd // 2], F32, 4 * (hd // 2), lambda: factors.tobytes())
    if arch == "phi3" and "ctx_orig" in s:
        vector("rope_factors_long.weight", hd // 2, 4.0, 1.0)
        vector("rope_factors_short.weight", hd // 2, 1.0, 0.05)
    for l in range(s["n_layer"]):
        b = f"blk.{l}."
        norm(b + "attn_norm.weight", d)
        if arch == "phi3":
            matrix(b + "attn_qkv.weight", d, q_dim + 2 * kv_dim)
        else:
            matrix(b + "attn_q.weight", d, q_dim)
            matrix(b + "attn_k.weight", d, kv_dim)
            matrix(b + "attn_v.weight", d, kv_dim)
        if arch == "qwen2":
            for t, n in (("q", q_dim), ("k", kv_dim), ("v", kv_dim)):
                vector(b + f"attn_{t}.bias", n, 0.0, 0.5)
        if arch in ("qwen3", "qwen3moe", "gemma3"):
            norm(b + "attn_q_norm.weight", hd)
            norm(b + "attn_k_norm.weight", hd)
        matrix(b + "attn_output.weight", q_dim, d)
        if arch == "gemma3":
            norm(b + "post_attention_norm.weight", d)
        norm(b + "ffn_norm.weight", d)
        if n_expert:
            ff = s.get("n_ff_exp", n_ff)
            # the router stays F32, as llama.cpp's quantize leaves it
            matrix(b + "ffn_gate_inp.weight", d, n_expert, std=a.router_std, ttype=(F32, np.float32))
            matrix(b + "ffn_gate_exps.weight", d, ff, n_expert)
            matrix(b + "ffn_up_exps.weight", d, ff, n_expert)
            matrix(b + "ffn_down_exps.weight", ff, d, n_expert)
        elif arch == "phi3":
            matrix(b + "ffn_up.weight", d, 2 * n_ff)
            matrix(b + "ffn_down.weight", n_ff, d)
        else:
            matrix(b + "ffn_gate.weight", d, n_ff)
            matrix(b + "ffn_up.weight", d, n_ff)
            matrix(b + "ffn_down.weight", n_ff, d)
        if arch == "gemma3":
            norm(b + "post_ffw_norm.weight", d)
    norm("output_norm.weight", d)
    if not llama3 and not s.get("tied"):  # Llama 3.2's small models tie the output to the embeddings
        matrix("output.weight", d, n_vocab)
    w.write(a.out)
    print(f"{a.out}: {a.shape}, {a.random_blocks or a.type}", file=sys.stderr)


if __name__ == "__main__":
    main()
