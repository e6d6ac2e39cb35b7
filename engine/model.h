// A model of one of the architectures of engine/arch.h loaded from GGUF: hyperparameters, weights (pointing into the mapped file)
// and tokenizer. Immutable once loaded, so any number of sessions and threads may share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/arch.h"
#include "engine/gguf.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

// A layer's attention: how far back it looks and which RoPE it rotates by.
struct LayerConfig {
    size_t window = 0;  // sliding window in positions (a token sees itself and window - 1 before); 0: all
    size_t rope = 0;    // index into ModelConfig::ropes
};

// One RoPE: theta_i = pos * freq_scale * freq_base^(-2i / rot_dim) / factor_i.
struct RopeConfig {
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;  // rope.scaling.type linear: 1 / rope.scaling.factor
};

// The hyperparameters of a model, read from its architecture's metadata keys.
struct ModelConfig {
    const Architecture* arch = nullptr;
    size_t n_layer = 0;
    size_t n_embd = 0;
    size_t n_ff = 0;          // of a dense FFN, or of each expert
    size_t n_head = 0;
    size_t n_kv_head = 0;
    size_t head_dim = 0;      // attention.key_length (= value_length), else n_embd / n_head
    size_t rot_dim = 0;       // leading elements of each head that RoPE rotates
    size_t n_ctx_train = 0;
    size_t n_vocab = 0;
    float norm_eps = 1e-5f;
    float attn_scale = 0.0f;  // scores = q.k * attn_scale
    std::vector<RopeConfig> ropes;
    std::vector<LayerConfig> layers;
    // Per-pair divisors of RoPE frequencies, rot_dim / 2 values each (empty: none):
    // rope_freqs.weight (Llama 3.1+), or Phi-3's LongRoPE pair, the long one taken when the
    // context exceeds rope_ctx_orig; rope_attn_factor then multiplies cos and sin.
    std::vector<float> rope_freq_factors;
    std::vector<float> rope_factors_long;
    size_t rope_ctx_orig = 0;
    float rope_attn_factor = 1.0f;
    size_t n_expert = 0;       // Mixture-of-Experts layers: experts per layer; 0: dense
    size_t n_expert_used = 0;  // experts each token goes through

    size_t q_dim() const { return n_head * head_dim; }
    size_t kv_dim() const { return n_kv_head * head_dim; }
    // The frequency divisors for a context of n_ctx positions, or nullptr.
    const float* rope_factors(size_t n_ctx) const {
        if (!rope_factors_long.empty() && n_ctx > rope_ctx_orig) return rope_factors_long.data();
        return rope_freq_factors.empty() ? nullptr : rope_freq_factors.data();
    }
};

// A gated feed-forward network: down(act(gate x) * up x).
struct FfnWeights {
    WeightMatrix gate, up, down;
};

// Vectors the architecture does not have are empty.
struct LayerWeights {
    std::vector<float> attn_norm;
    WeightMatrix wq, wk, wv, wo;
    std::vector<float> bq, bk, bv;          // biases of the Q, K, V projections
    std::vector<float> q_norm, k_norm;      // per-head RMSNorm weights, head_dim each
    std::vector<float> post_attn_norm;      // the attention output's norm, before the residual
    std::vector<float> ffn_norm;
    std::vector<float> post_ffn_norm;
    FfnWeights ffn;                   // dense layers
    WeightMatrix router;              // MoE layers: ffn_gate_inp, one logit per expert
    std::vector<FfnWeights> experts;  // MoE layers: slices of the 3-D *_exps tensors
};

struct ModelOptions {
    std::string tokenizer_path;  // a tokenizer.model to use instead of the GGUF's vocabulary
    Isa isa = Isa::scalar;
    FileLoad load = FileLoad::automatic;  // map the file or copy it into huge-page memory
    bool allow_unused_tensors = false;    // else a tensor the architecture does not use is an error
    int n_threads = 1;                    // threads rearranging the weights at load
};

class Model {
public:
    // Throws Error with a one-line message starting with the path.
    static std::unique_ptr<const Model> load(const std::string& path, const ModelOptions& options);

    const GgufFile& gguf() const { return gguf_; }
    const ModelConfig& config() const { return config_; }
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
    void repack(int threads);
    std::vector<WeightMatrix*> matrices();  // every matrix the forward pass multiplies by

    GgufFile gguf_;
    ModelConfig config_;
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

// Only the tokenizer of the GGUF file at path (any file with a vocabulary, vocabulary-only ones
// included), or of tokenizer_path when given. Throws Error with a message starting with the path.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path, const std::string& tokenizer_path = "");

}  // namespace kiln
