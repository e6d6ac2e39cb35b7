#!/usr/bin/python3
"""Independent forward pass in PyTorch for the architectures kiln runs, for checking its logits.

usage: reference_forward.py MODEL.gguf TOKEN_IDS OUT.f32 [N_CTX]
TOKEN_IDS is a comma-separated list; OUT gets the logits of every position as raw
little-endian float32, n_tokens x n_vocab; N_CTX (default 64) is the context they are for, which
picks Phi-3's LongRoPE factors. Reads the GGUF with scripts/gguf.py, computes in float32, and
follows each architecture's published definition (Hugging Face transformers' modeling files,
with the weight layout llama.cpp's converter gives GGUF files):
- llama: RMSNorm, RoPE on consecutive pairs (the converter permutes Q and K rows so), grouped-query
  attention, SwiGLU; Mixtral's Mixture of Experts: the router's top-k experts per token, weighted by
  the softmax of their logits.
- qwen2: as llama, with biases on the Q, K and V projections and RoPE on the two halves of a head
  (rotate_half), the converter keeping Hugging Face's order.
- qwen3 / qwen3moe: no biases; RMSNorm of each head of Q and K before RoPE; head size from
  attention.key_length; qwen3moe's router: softmax over all experts, top-k, renormalised.
- gemma3: embeddings times sqrt(n_embd); GELU (tanh) gating; Q/K norms; a norm on each sub-layer's
  output before the residual (the converter stores Gemma's 1 + w as the weight); scores scaled by
  query_pre_attn_scalar^-0.5 (= head size); five of every six layers attend over a sliding window
  with RoPE base 10000, the sixth over everything with the file's base and linear scaling.
- phi3: fused QKV and gate/up projections; LongRoPE: per-pair frequency divisors (the long set
  past the original context), cos and sin times the attention factor.
"""
import sys

import numpy as np
import torch

import gguf


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, rot_dim, base, factors=None, neox=False, scale=1.0, mscale=1.0):
    # x: [n_tokens, n_heads, head_dim]; rotates the first rot_dim dims: pairs (2i, 2i+1), or with
    # neox the halves (i, i + rot_dim/2); factors divide the pairs' frequencies.
    i = torch.arange(0, rot_dim, 2, dtype=torch.float64)
    freqs = base ** (-i / rot_dim)
    if factors is not None:
        freqs = freqs / factors.double()
    angles = (pos[:, None].double() * scale) * freqs[None, :]
    cos = (torch.cos(angles) * mscale).float()[:, None, :]
    sin = (torch.sin(angles) * mscale).float()[:, None, :]
    rot = x[..., :rot_dim]
    if neox:
        a, b = rot[..., : rot_dim // 2], rot[..., rot_dim // 2:]
        out = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    else:
        a, b = rot[..., 0::2], rot[..., 1::2]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    return torch.cat((out, x[..., rot_dim:]), dim=-1)


def gated_ffn(h, gate, up, down, act):
    return (act(h @ gate.T) * (h @ up.T)) @ down.T


def silu(x):
    return torch.nn.functional.silu(x)


def gelu_tanh(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def moe(h, t, p, k, act):
    logits = h @ t[p + "ffn_gate_inp.weight"].T
    top, experts = torch.topk(logits, k, dim=-1)
    weights = torch.softmax(top, dim=-1)
    out = torch.zeros_like(h)
    gate, up, down = t[p + "ffn_gate_exps.weight"], t[p + "ffn_up_exps.weight"], t[p + "ffn_down_exps.weight"]
    for i in range(h.shape[0]):
        for j in range(k):
            e = int(experts[i, j])
            out[i] += weights[i, j] * gated_ffn(h[i:i + 1], gate[e], up[e], down[e], act)[0]
    return out


def forward(model, tokens, n_ctx):
    md, t = model.metadata, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.tensors.items()}
    arch = md["general.architecture"]
    key = lambda k, default=None: md.get(f"{arch}.{k}", default)
    n_layer = key("block_count")
    n_head = key("attention.head_count")
    n_kv = key("attention.head_count_kv", n_head)
    dim = key("embedding_length")
    hd = key("attention.key_length", dim // n_head)
    rot_dim = key("rope.dimension_count", hd)
    base = key("rope.freq_base", 10000.0)
    eps = key("attention.layer_norm_rms_epsilon", 1e-5)
    neox = arch != "llama"
    act = gelu_tanh if arch == "gemma3" else silu
    n = len(tokens)
    pos = torch.arange(n)
    x = t["token_embd.weight"][torch.tensor(tokens)]
    if arch == "gemma3":
        x = x * torch.tensor(dim ** 0.5, dtype=torch.float32)
    causal = torch.full((n, n), float("-inf")).triu(1)
    window = key("attention.sliding_window")
    sliding = torch.where((pos[:, None] - pos[None, :]) >= (window or 1), float("-inf"), 0.0) + causal
    scale_linear = 1.0 / key("rope.scaling.factor", 1.0) if key("rope.scaling.type") == "linear" else 1.0
    factors, mscale = t.get("rope_freqs.weight"), 1.0
    if "rope_factors_long.weight" in t:
        long = n_ctx > key("rope.scaling.original_context_length")
        factors = t["rope_factors_long.weight" if long else "rope_factors_short.weight"]
        mscale = key("rope.scaling.attn_factor", 1.0)
    for l in range(n_layer):
        p = f"blk.{l}."
        local = arch == "gemma3" and l % 6 < 5
        h = rmsnorm(x, t[p + "attn_norm.weight"], eps)
        if p + "attn_qkv.weight" in t:
            q, k, v = torch.split(h @ t[p + "attn_qkv.weight"].T, [n_head * hd, n_kv * hd, n_kv * hd], dim=-1)
        else:
            q, k, v = (h @ t[p + f"attn_{w}.weight"].T for w in "qkv")
        if p + "attn_q.bias" in t:
            q, k, v = q + t[p + "attn_q.bias"], k + t[p + "attn_k.bias"], v + t[p + "attn_v.bias"]
        q, k, v = q.reshape(n, n_head, hd), k.reshape(n, n_kv, hd), v.reshape(n, n_kv, hd)
        if p + "attn_q_norm.weight" in t:
            q, k = rmsnorm(q, t[p + "attn_q_norm.weight"], eps), rmsnorm(k, t[p + "attn_k_norm.weight"], eps)
        b, sc = (10000.0, 1.0) if local else (base, scale_linear)
        q = rope(q, pos, rot_dim, b, factors, neox, sc, mscale)
        k = rope(k, pos, rot_dim, b, factors, neox, sc, mscale)
        k = k.repeat_interleave(n_head // n_kv, dim=1)
        v = v.repeat_interleave(n_head // n_kv, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / hd ** 0.5 + (sliding if local else causal)
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, dim=-1), v).reshape(n, n_head * hd)
        out = att @ t[p + "attn_output.weight"].T
        if p + "post_attention_norm.weight" in t:
            out = rmsnorm(out, t[p + "post_attention_norm.weight"], eps)
        x = x + out
        h = rmsnorm(x, t[p + "ffn_norm.weight"], eps)
        if key("expert_count", 0):
            out = moe(h, t, p, key("expert_used_count"), act)
        elif p + "ffn_gate.weight" in t:
            out = gated_ffn(h, t[p + "ffn_gate.weight"], t[p + "ffn_up.weight"], t[p + "ffn_down.weight"], act)
        else:  # phi3: gate and up in one matrix
            gate, up = torch.chunk(t[p + "ffn_up.weight"], 2, dim=0)
            out = gated_ffn(h, gate, up, t[p + "ffn_down.weight"], act)
        if p + "post_ffw_norm.weight" in t:
            out = rmsnorm(out, t[p + "post_ffw_norm.weight"], eps)
        x = x + out
    x = rmsnorm(x, t["output_norm.weight"], eps)
    out = t.get("output.weight", t["token_embd.weight"])
    return x @ out.T


def main():
    model_path, ids, out_path = sys.argv[1:4]
    n_ctx = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    tokens = [int(s) for s in ids.split(",")]
    with torch.no_grad():
        logits = forward(gguf.Reader(model_path), tokens, n_ctx)
    logits.numpy().astype("<f4").tofile(out_path)


if __name__ == "__main__":
    main()
