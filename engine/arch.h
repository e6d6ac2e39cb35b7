// The architectures kiln runs, as data: each is one row of switches that the loader and the
// one forward pass read. Adding an architecture is adding a row (and any kernel it alone needs).
#pragma once

#include <span>
#include <string_view>

namespace kiln {

// How RoPE pairs a head's elements: (2i, 2i + 1) as GGUF stores Llama's Q and K, or
// (i, i + rot_dim / 2) as GPT-NeoX and the Hugging Face models converted without permuting.
enum class RopeStyle { adjacent, neox };

// The gate's activation in the gated FFN down(act(gate x) * up x).
enum class Activation { silu, gelu_tanh };

struct Architecture {
    std::string_view name;      // general.architecture, and the prefix of its metadata keys
    std::string_view families;  // what people download under it
    RopeStyle rope;
    Activation ffn_act;
    bool qkv_bias;       // attn_{q,k,v}.bias added after the projections
    bool qk_norm;        // attn_{q,k}_norm: RMSNorm of each head of Q and K before RoPE
    bool post_norms;     // post_attention_norm and post_ffw_norm on each sub-layer's output
    bool embed_scale;    // embeddings times sqrt(n_embd)
    bool fused_gate_up;  // ffn_up holds gate then up (2 * n_ff rows), no ffn_gate
    bool experts;        // every layer is a mixture of experts (the key expert_count required)
    // Interleaved sliding-window attention: in every group of swa_pattern layers all but the
    // last attend over the last attention.sliding_window positions, with RoPE base
    // swa_rope_base; 0: every layer attends over the whole context.
    unsigned swa_pattern;
    float swa_rope_base;
};

// Every architecture kiln runs, in the order the README lists them.
std::span<const Architecture> architectures();

// The row named name, or nullptr.
const Architecture* find_architecture(std::string_view name);

}  // namespace kiln
