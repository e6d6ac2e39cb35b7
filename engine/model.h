// A Llama model loaded from GGUF: hyperparameters, weights (pointing into the mapped file)
// and tokenizer. Immutable once loaded, so any number of sessions and threads may share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

struct LlamaConfig {
    size_t n_layer = 0;
    size_t n_embd = 0;
    size_t n_ff = 0;
    size_t n_head = 0;
    size_t n_kv_head = 0;
    size_t head_dim = 0;
    size_t rot_dim = 0;       // leading elements of each head that RoPE rotates
    size_t n_ctx_train = 0;
    size_t n_vocab = 0;
    float rope_freq_base = 10000.0f;
    std::vector<float> rope_freq_factors;  // rope_freqs.weight (Llama 3.1+), rot_dim / 2 values; empty: none
    float norm_eps = 1e-5f;
    size_t n_expert = 0;       // Mixture-of-Experts layers (Mixtral): experts per layer; 0: dense
    size_t n_expert_used = 0;  // experts each token goes through

    size_t kv_dim() const { return n_kv_head * head_dim; }
};

// A SwiGLU feed-forward network: down(silu(gate x) * up x).
struct FfnWeights {
    WeightMatrix gate, up, down;
};

struct LayerWeights {
    std::vector<float> attn_norm;
    WeightMatrix wq, wk, wv, wo;
    std::vector<float> ffn_norm;
    FfnWeights ffn;                   // dense layers
    WeightMatrix router;              // MoE layers: ffn_gate_inp, one logit per expert
    std::vector<FfnWeights> experts;  // MoE layers: slices of the 3-D *_exps tensors
};

struct ModelOptions {
    std::string tokenizer_path;  // a tokenizer.model to use instead of the GGUF's vocabulary
    Isa isa = Isa::scalar;
    FileLoad load = FileLoad::automatic;  // map the file or copy it into huge-page memory
};

class Model {
public:
    // Throws Error with a one-line message starting with the path.
    static std::unique_ptr<const Model> load(const std::string& path, const ModelOptions& options);

    const GgufFile& gguf() const { return gguf_; }
    const LlamaConfig& config() const { return config_; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    Isa isa() const { return isa_; }

    const WeightMatrix& token_embd() const { return token_embd_; }
    const std::vector<LayerWeights>& layers() const { return layers_; }
    const std::vector<float>& output_norm() const { return output_norm_; }
    const WeightMatrix& output() const { return output_; }

    // Bytes of all tensors in the file (the weights' memory).
    size_t weight_bytes() const;
    // Bytes of weights one generated token reads: every matrix once (of an MoE layer, the
    // router and n_expert_used experts), one embedding row.
    size_t bytes_per_token() const;
    // Bytes of weights rearranged at load for the AMX kernels (kernels/repack.h).
    size_t repacked_bytes() const { return repacked_bytes_; }

private:
    Model() = default;
    void repack();
    std::vector<WeightMatrix*> matrices();  // every matrix the forward pass multiplies by

    GgufFile gguf_;
    LlamaConfig config_;
    std::unique_ptr<Tokenizer> tokenizer_;
    Isa isa_ = Isa::scalar;
    WeightMatrix token_embd_{};
    std::vector<LayerWeights> layers_;
    std::vector<float> output_norm_;
    WeightMatrix output_{};
    size_t repacked_bytes_ = 0;
};

// The tokenizer a GGUF file describes (tokenizer.ggml.*). Throws Error.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& gguf);

}  // namespace kiln
