// The forward pass over a batch of token runs, each run continuing its own sequence (its own
// KV cache): one matrix product per weight for all the batch's tokens, attention per sequence.
// A token's result does not depend on what else is in the batch or how a prompt was split.
#pragma once

#include <span>
#include <vector>

#include "engine/model.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"

namespace kiln {

// Keys and values of one sequence: per layer, n_ctx rows of kv_dim floats.
class KvCache {
public:
    KvCache(const LlamaConfig& config, size_t n_ctx);
    size_t n_ctx() const { return n_ctx_; }
    size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }
    float* k(size_t layer) { return k_.data() + layer * layer_size_; }
    float* v(size_t layer) { return v_.data() + layer * layer_size_; }

private:
    size_t n_ctx_, layer_size_;
    std::vector<float> k_, v_;
};

enum class Logits { none, last, all };

// tokens go to positions n_past, n_past + 1, ... of cache.
struct TokenRun {
    std::span<const Token> tokens;
    KvCache* cache;
    size_t n_past;
    Logits logits;
};

class Forward {
public:
    // Scratch for up to n_batch tokens in one call and sequences of up to n_ctx positions.
    Forward(const Model& model, size_t n_batch, size_t n_ctx, int n_threads);

    size_t n_batch() const { return n_batch_; }

    // Runs every run's tokens (at most n_batch in all) and returns the logits they ask for,
    // n_vocab floats per row, rows in the order of the runs. The caller checks token ids and
    // that each run fits its cache.
    std::span<const float> run(std::span<const TokenRun> runs);

private:
    // out (n rows of n_embd) = the feed-forward network f of input_'s n rows.
    void ffn(const FfnWeights& f, size_t n, float* out);
    // xb2_ = the mixture of experts of xb_'s n rows.
    void moe(const LayerWeights& w, size_t n);

    const Model& model_;
    size_t n_batch_, n_ctx_;
    int n_threads_;
    std::vector<float> x_, xb_, xb2_, q_, att_, hb_, hb2_, scores_, logits_;
    // Mixture of experts: router logits, each token's chosen experts and their weights, and
    // per expert the (token, slot) rows it serves, their inputs and outputs.
    std::vector<float> router_, weight_, gathered_, expert_out_;
    std::vector<uint32_t> chosen_, order_;
    std::vector<size_t> slots_;
    MatmulInput input_;
    std::vector<AttentionSeq> seqs_;
};

}  // namespace kiln
