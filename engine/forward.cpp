#include "engine/forward.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/quants.h"

namespace kiln {

namespace {

DType checked_cache_type(const LlamaConfig& c, DType type) {
    if (!kv_type_fits(type, c.head_dim))
        throw Error(std::string("a ") + cache_type_name(type) + " KV cache needs heads of a multiple of 32 elements; this model's have " +
                    std::to_string(c.head_dim) + " (use --cache-type f16)");
    return type;
}

size_t cache_head_bytes(const LlamaConfig& c, DType type) { return row_bytes(*type_info(static_cast<uint32_t>(type)), c.head_dim); }

}  // namespace

std::optional<DType> parse_cache_type(std::string_view name) {
    for (DType t : {DType::F32, DType::F16, DType::Q8_0})
        if (name == cache_type_name(t)) return t;
    return std::nullopt;
}

const char* cache_type_name(DType type) { return type_info(static_cast<uint32_t>(type))->name; }

KvCache::KvCache(const LlamaConfig& config, size_t n_ctx, DType type)
    : n_ctx_(n_ctx), type_(checked_cache_type(config, type)), n_kv_head_(config.n_kv_head),
      head_bytes_(cache_head_bytes(config, type)), k_(bytes(config, n_ctx, type) / 2), v_(k_.size()) {}

size_t KvCache::bytes(const LlamaConfig& config, size_t n_ctx, DType type) {
    return 2 * config.n_layer * config.n_kv_head * n_ctx * cache_head_bytes(config, type);
}

Forward::Forward(const Model& model, size_t n_batch, int n_threads)
    : model_(model), n_batch_(n_batch), n_threads_(n_threads) {
    const LlamaConfig& c = model.config();
    if (n_batch == 0) throw Error("batch size must be at least 1");
    if (n_threads < 1) throw Error("thread count must be at least 1");
    x_.resize(n_batch * c.n_embd);
    xb_.resize(n_batch * c.n_embd);
    xb2_.resize(n_batch * c.n_embd);
    q_.resize(n_batch * c.n_embd);
    att_.resize(n_batch * c.n_embd);
    hb_.resize(n_batch * c.n_ff);
    hb2_.resize(n_batch * c.n_ff);
    k_new_.resize(n_batch * c.kv_dim());
    v_new_.resize(n_batch * c.kv_dim());
    rope_.resize(n_batch * c.rot_dim);
    scores_.resize(attention_scratch_floats({c.n_head, c.n_kv_head, c.head_dim, DType::F32, 0, 0}, n_threads));
    if (c.n_expert > 0) {
        router_.resize(n_batch * c.n_expert);
        chosen_.resize(n_batch * c.n_expert_used);
        weight_.resize(n_batch * c.n_expert_used);
        gathered_.resize(n_batch * c.n_embd);
        expert_out_.resize(n_batch * c.n_expert_used * c.n_embd);
        slots_.reserve(n_batch * c.n_expert_used);
        order_.reserve(c.n_expert);
    }
}

void Forward::ffn(const FfnWeights& f, size_t n, float* out) {
    const size_t n_ff = model_.config().n_ff;
    const MatmulOutput gate_up[] = {{&f.gate, hb_.data(), n_ff}, {&f.up, hb2_.data(), n_ff}};
    matmul(model_.isa(), gate_up, input_, n_threads_);
    swiglu(model_.isa(), hb_.data(), hb2_.data(), n * n_ff, n_threads_);
    input_.set(hb_.data(), n_ff, n, n_ff);
    matmul(model_.isa(), f.down, input_, out, model_.config().n_embd, n_threads_);
}

void Forward::moe(const LayerWeights& w, size_t n) {
    const LlamaConfig& c = model_.config();
    const size_t dim = c.n_embd, n_exp = c.n_expert, k = c.n_expert_used;
    input_.set(xb_.data(), dim, n, dim);
    matmul(model_.isa(), w.router, input_, router_.data(), n_exp, n_threads_);

    // Each token's k experts of highest logit (ties: lower index), weighted by the softmax
    // of the selected logits (Mixtral's rule).
    for (size_t t = 0; t < n; ++t) {
        const float* logit = &router_[t * n_exp];
        uint32_t* chosen = &chosen_[t * k];
        order_.resize(n_exp);
        for (uint32_t e = 0; e < n_exp; ++e) order_[e] = e;
        std::partial_sort(order_.begin(), order_.begin() + static_cast<ptrdiff_t>(k), order_.end(),
                          [&](uint32_t a, uint32_t b) { return logit[a] > logit[b] || (logit[a] == logit[b] && a < b); });
        std::copy_n(order_.begin(), k, chosen);
        float sum = 0.0f;
        for (size_t j = 0; j < k; ++j) sum += (weight_[t * k + j] = std::exp(logit[chosen[j]] - logit[chosen[0]]));
        for (size_t j = 0; j < k; ++j) weight_[t * k + j] /= sum;
    }

    // One product per expert over the tokens routed to it; each (token, slot) result lands in
    // its own row of expert_out_. (q_, free once attention is done, takes the expert's output.)
    for (uint32_t e = 0; e < n_exp; ++e) {
        slots_.clear();
        for (size_t i = 0; i < n * k; ++i)
            if (chosen_[i] == e) slots_.push_back(i);
        if (slots_.empty()) continue;
        const size_t g = slots_.size();
        for (size_t i = 0; i < g; ++i) std::copy_n(&xb_[slots_[i] / k * dim], dim, &gathered_[i * dim]);
        input_.set(gathered_.data(), dim, g, dim);
        ffn(w.experts[e], g, q_.data());
        for (size_t i = 0; i < g; ++i) std::copy_n(&q_[i * dim], dim, &expert_out_[slots_[i] * dim]);
    }

    // The weighted sum in slot order, so that a token's result is the same in any batch.
    for (size_t t = 0; t < n; ++t) {
        float* out = &xb2_[t * dim];
        std::fill_n(out, dim, 0.0f);
        for (size_t j = 0; j < k; ++j) {
            const float wj = weight_[t * k + j];
            const float* y = &expert_out_[(t * k + j) * dim];
            for (size_t i = 0; i < dim; ++i) out[i] += wj * y[i];
        }
    }
}

std::span<const float> Forward::run(std::span<const TokenRun> runs) {
    const Model& m = model_;
    const LlamaConfig& c = m.config();
    const Isa isa = m.isa();
    const int nt = n_threads_;
    const size_t dim = c.n_embd, kv_dim = c.kv_dim(), q_dim = c.n_head * c.head_dim;
    size_t n = 0;
    for (const TokenRun& r : runs) n += r.tokens.size();
    if (n == 0 || n > n_batch_) throw Error("a forward pass takes 1 to " + std::to_string(n_batch_) + " tokens");
    for (const TokenRun& r : runs)
        if (r.cache->type() != runs[0].cache->type() || r.cache->n_ctx() != runs[0].cache->n_ctx())
            throw Error("the KV caches of one forward pass must share a type and size");

    const size_t embd_row = row_bytes(*type_info(static_cast<uint32_t>(m.token_embd().type)), dim);
    const auto* embd = static_cast<const uint8_t*>(m.token_embd().data);
    for (size_t t = 0; const TokenRun& r : runs)
        for (Token tok : r.tokens) {
            dequantize_row(m.token_embd().type, embd + static_cast<size_t>(tok) * embd_row, &x_[t * dim], dim);
            ++t;
        }

    const float* factors = c.rope_freq_factors.empty() ? nullptr : c.rope_freq_factors.data();
    for (size_t t = 0; const TokenRun& r : runs)
        for (size_t i = 0; i < r.tokens.size(); ++i, ++t)
            rope_table(static_cast<int64_t>(r.n_past + i), c.rot_dim, c.rope_freq_base, factors, &rope_[t * c.rot_dim]);
    for (size_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& w = m.layers()[l];

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.attn_norm.data(), dim, c.norm_eps);
        input_.set(xb_.data(), dim, n, dim);
        const MatmulOutput qkv[] = {{&w.wq, q_.data(), q_dim}, {&w.wk, k_new_.data(), kv_dim}, {&w.wv, v_new_.data(), kv_dim}};
        matmul(isa, qkv, input_, nt);
        seqs_.clear();
        for (size_t t0 = 0; const TokenRun& r : runs) {
            KvCache& cache = *r.cache;
            const size_t hb = cache.head_bytes(), hs = cache.head_stride();
            for (size_t i = 0; i < r.tokens.size(); ++i) {
                const size_t t = t0 + i, pos = r.n_past + i;
                rope(&q_[t * q_dim], c.n_head, c.head_dim, c.rot_dim, &rope_[t * c.rot_dim]);
                rope(&k_new_[t * kv_dim], c.n_kv_head, c.head_dim, c.rot_dim, &rope_[t * c.rot_dim]);
                for (size_t h = 0; h < c.n_kv_head; ++h) {
                    quantize_row(isa, cache.type(), &k_new_[t * kv_dim + h * c.head_dim], cache.k(l) + h * hs + pos * hb, c.head_dim);
                    quantize_row(isa, cache.type(), &v_new_[t * kv_dim + h * c.head_dim], cache.v(l) + h * hs + pos * hb, c.head_dim);
                }
            }
            seqs_.push_back({&q_[t0 * q_dim], r.tokens.size(), r.n_past, cache.k(l), cache.v(l), &att_[t0 * q_dim]});
            t0 += r.tokens.size();
        }
        const KvCache& cache0 = *runs[0].cache;
        const AttentionShape shape{c.n_head, c.n_kv_head, c.head_dim, cache0.type(), cache0.head_bytes(), cache0.head_stride()};
        attention(isa, shape, seqs_, q_dim, q_dim, scores_.data(), nt);
        input_.set(att_.data(), q_dim, n, q_dim);
        matmul(isa, w.wo, input_, xb2_.data(), dim, nt);
        for (size_t t = 0; t < n; ++t) add(&x_[t * dim], &xb2_[t * dim], dim);

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.ffn_norm.data(), dim, c.norm_eps);
        if (w.experts.empty()) {
            input_.set(xb_.data(), dim, n, dim);
            ffn(w.ffn, n, xb2_.data());
        } else {
            moe(w, n);
        }
        for (size_t t = 0; t < n; ++t) add(&x_[t * dim], &xb2_[t * dim], dim);
    }

    // Only the rows whose logits are wanted go through the final norm and the output matrix.
    size_t rows = 0;
    for (size_t t0 = 0; const TokenRun& r : runs) {
        const size_t first = r.logits == Logits::all ? 0 : r.logits == Logits::last ? r.tokens.size() - 1 : r.tokens.size();
        for (size_t i = first; i < r.tokens.size(); ++i, ++rows)
            rmsnorm(&xb_[rows * dim], &x_[(t0 + i) * dim], m.output_norm().data(), dim, c.norm_eps);
        t0 += r.tokens.size();
    }
    if (rows == 0) return {};
    if (logits_.size() < rows * c.n_vocab) logits_.resize(rows * c.n_vocab);
    input_.set(xb_.data(), dim, rows, dim);
    matmul(isa, m.output(), input_, logits_.data(), c.n_vocab, nt);
    return {logits_.data(), rows * c.n_vocab};
}

}  // namespace kiln
