// The forward pass over a batch of token runs, each run continuing its own sequence (its own
// KV cache): one matrix product per weight for all the batch's tokens, attention per sequence.
// A token's result does not depend on what else is in the batch or how a prompt was split.
#pragma once

#include <array>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model.h"
#include "engine/thread_policy.h"
#include "kernels/aligned.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"

namespace kiln {

// Keys and values of one sequence: per layer and KV head, a row of head_dim elements of the
// cache type (F32, F16 or Q8_0) per position it holds. Head by head, so that attention, which
// reads one head's positions in order, reads contiguous memory. A layer with a sliding window
// holds only the positions its window and one forward pass need, as a ring (position p at
// p % positions(layer)); the others hold the whole context.
class KvCache {
public:
    // n_batch: the most tokens of this sequence one forward pass takes. Throws Error when the
    // type cannot hold the model's heads.
    KvCache(const ModelConfig& config, size_t n_ctx, DType type, size_t n_batch);
    size_t n_ctx() const { return n_ctx_; }
    size_t n_batch() const { return n_batch_; }
    DType type() const { return type_; }
    size_t head_bytes() const { return head_bytes_; }
    size_t positions(size_t layer) const { return positions_[layer]; }
    size_t head_stride(size_t layer) const { return positions_[layer] * head_bytes_; }
    size_t bytes() const { return k_.size() + v_.size(); }
    uint8_t* k(size_t layer) { return k_.data() + offsets_[layer]; }
    uint8_t* v(size_t layer) { return v_.data() + offsets_[layer]; }

    // After positions [0, written) were written, how many leading positions still hold their
    // rows: all of them, unless a sliding-window ring has wrapped (then none).
    size_t intact_prefix(size_t written) const;
    // The rows of positions [begin, end) from another cache of the same shape, as if they had
    // been computed here: a row depends only on the tokens up to its position, so a prefix
    // two sequences share is computed once. The caller checks from.intact_prefix().
    void copy_rows(const KvCache& from, size_t begin, size_t end);
    // The rows of positions [0, n) as bytes, layer by layer, head by head, K then V (a prompt
    // cache's payload); read_rows puts back the first n of `stored` rows so written. The caller
    // checks intact_prefix(n) == n.
    void write_rows(std::ostream& out, size_t n) const;
    void read_rows(std::istream& in, size_t n, size_t stored);
    // What a prompt cache must match: element type, layers, KV heads, bytes per head row.
    std::array<uint32_t, 4> shape() const;

    // Bytes of a cache of this type for n_ctx positions and passes of up to n_batch tokens.
    static size_t bytes(const ModelConfig& config, size_t n_ctx, DType type, size_t n_batch);
    // The same were every layer to hold the whole context.
    static size_t bytes_full(const ModelConfig& config, size_t n_ctx, DType type);

private:
    size_t n_ctx_, n_batch_, n_kv_head_;
    DType type_;
    size_t head_bytes_;
    std::vector<size_t> positions_, offsets_;  // per layer
    AlignedVector<uint8_t> k_, v_;
};

// What the cache of a model with sliding-window layers holds, in one line ("" for a model
// without them): how many layers slide, over how many positions, and the bytes saved.
std::string sliding_window_summary(const ModelConfig& config, size_t n_ctx, size_t n_batch);

// "f32", "f16", "q8_0": the KV cache types.
std::optional<DType> parse_cache_type(std::string_view name);
const char* cache_type_name(DType type);

enum class Logits { none, last, all };

// tokens go to positions n_past, n_past + 1, ... of cache.
struct TokenRun {
    std::span<const Token> tokens;
    KvCache* cache;
    size_t n_past;
    Logits logits;
};

// Sees the input rows of the forward pass's matrix products, before they are multiplied (an
// importance matrix's statistics). The matrices of one call all read those rows.
class ActivationObserver {
public:
    virtual ~ActivationObserver() = default;
    virtual void observe(std::span<const WeightMatrix* const> matrices, const float* x, size_t n_rows, size_t n_cols,
                         size_t ld) = 0;
};

class Forward {
public:
    // Scratch for up to n_batch tokens in one call.
    Forward(const Model& model, size_t n_batch, int n_threads);

    size_t n_batch() const { return n_batch_; }

    // Runs every run's tokens (at most n_batch in all) and returns the logits they ask for,
    // n_vocab floats per row, rows in the order of the runs. The caller checks token ids and
    // that each run fits its cache; the caches share one type and size.
    std::span<const float> run(std::span<const TokenRun> runs);

    // Every later pass shows its products' inputs to observer (nullptr: none).
    void observe(ActivationObserver* observer) { observer_ = observer; }

private:
    // Shows n rows of x (n_cols used, ld apart) that the matrices read to the observer.
    void seen(std::initializer_list<const WeightMatrix*> matrices, const float* x, size_t n_cols, size_t n, size_t ld) {
        if (observer_ != nullptr) observer_->observe({matrices.begin(), matrices.size()}, x, n, n_cols, ld);
    }

    // Q, K and V of layer l for xb_'s n rows into q_, k_new_, v_new_: projections, biases,
    // per-head norms and RoPE.
    void qkv(size_t l, size_t n);
    // out (n rows of n_embd) = the feed-forward network f of x's n rows (n_embd each).
    void ffn(const FfnWeights& f, size_t n, const float* x, float* out);
    // xb2_ = the mixture of experts of xb_'s n rows.
    void moe(const LayerWeights& w, size_t n);
    // Grows the per-token buffers to n tokens: a pass touches only what the largest pass so far
    // needed, so short prompts do not hold scratch for n_batch tokens.
    void fit_scratch(size_t n);

    const Model& model_;
    size_t n_batch_;
    size_t scratch_tokens_ = 0;  // the per-token buffers hold this many tokens
    int max_threads_;
    int n_threads_;  // of the pass under way
    ThreadPolicy one_token_threads_;  // a one-token pass's, which a busy core hurts most
    AlignedVector<float> x_, xb_, xb2_, q_, k_new_, v_new_, att_, hb_, hb2_, scores_, logits_;
    // Per RoPE of the model (ModelConfig::ropes) and token, its position's rotation (rope_table).
    AlignedVector<float> rope_;
    // Mixture of experts: router logits, each token's chosen experts and their weights, and
    // per expert the (token, slot) rows it serves, their inputs and outputs.
    AlignedVector<float> router_, weight_, gathered_, expert_out_;
    std::vector<uint32_t> chosen_, order_;
    std::vector<size_t> slots_;
    MatmulInput input_;
    std::vector<AttentionSeq> seqs_;
    ActivationObserver* observer_ = nullptr;
};

}  // namespace kiln
