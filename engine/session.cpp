#include "engine/session.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/quants.h"

namespace kiln {

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model), options_(options), sampler_(SamplerParams{}, model.config().n_vocab) {
    const LlamaConfig& c = model.config();
    if (options_.n_ctx == 0) throw Error("context size must be at least 1");
    if (options_.n_threads < 1) throw Error("thread count must be at least 1");
    options_.n_batch = std::clamp<size_t>(options_.n_batch, 1, options_.n_ctx);
    const size_t B = options_.n_batch;
    const size_t cache = c.n_layer * options_.n_ctx * c.kv_dim();
    k_cache_.assign(cache, 0.0f);
    v_cache_.assign(cache, 0.0f);
    x_.resize(B * c.n_embd);
    xb_.resize(B * c.n_embd);
    xb2_.resize(B * c.n_embd);
    q_.resize(B * c.n_embd);
    att_.resize(B * c.n_embd);
    hb_.resize(B * c.n_ff);
    hb2_.resize(B * c.n_ff);
    scores_.resize(static_cast<size_t>(options_.n_threads) * options_.n_ctx);
    logits_.resize(c.n_vocab);
}

Sampler& Session::start(const SamplerParams& params) {
    sampler_ = Sampler(params, model_.config().n_vocab);
    clear();
    return sampler_;
}

std::span<const float> Session::eval(std::span<const Token> tokens, bool all_logits) {
    const LlamaConfig& c = model_.config();
    if (tokens.empty()) throw Error("nothing to evaluate");
    if (tokens.size() > options_.n_ctx - n_past_)
        throw Error("context is full: " + std::to_string(n_past_) + " + " + std::to_string(tokens.size()) +
                    " tokens do not fit in " + std::to_string(options_.n_ctx));
    for (Token t : tokens)
        if (t < 0 || static_cast<size_t>(t) >= c.n_vocab)
            throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(c.n_vocab));
    if (all_logits && logits_.size() < tokens.size() * c.n_vocab) logits_.resize(tokens.size() * c.n_vocab);
    for (size_t done = 0; done < tokens.size(); done += options_.n_batch) {
        const size_t n = std::min(options_.n_batch, tokens.size() - done);
        float* out = all_logits ? logits_.data() + done * c.n_vocab : logits_.data();
        forward_chunk(tokens.subspan(done, n), out, all_logits);
    }
    return {logits_.data(), all_logits ? tokens.size() * c.n_vocab : c.n_vocab};
}

void Session::forward_chunk(std::span<const Token> tokens, float* logits, bool all_logits) {
    const Model& m = model_;
    const LlamaConfig& c = m.config();
    const Isa isa = m.isa();
    const int nt = options_.n_threads;
    const size_t n = tokens.size(), dim = c.n_embd, kv_dim = c.kv_dim(), p0 = n_past_;
    const size_t q_dim = c.n_head * c.head_dim;
    const size_t embd_row = row_bytes(*type_info(static_cast<uint32_t>(m.token_embd().type)), dim);

    for (size_t t = 0; t < n; ++t)
        dequantize_row(m.token_embd().type, static_cast<const uint8_t*>(m.token_embd().data) + tokens[t] * embd_row,
                   &x_[t * dim], dim);

    const AttentionShape shape{c.n_head, c.n_kv_head, c.head_dim, kv_dim};
    for (size_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& w = m.layers()[l];
        float* k_layer = &k_cache_[l * options_.n_ctx * kv_dim];
        float* v_layer = &v_cache_[l * options_.n_ctx * kv_dim];

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.attn_norm.data(), dim, c.norm_eps);
        input_.set(xb_.data(), dim, n, dim);
        // K and V go straight into the cache rows of their positions.
        const MatmulOutput qkv[] = {{&w.wq, q_.data(), q_dim},
                                    {&w.wk, k_layer + p0 * kv_dim, kv_dim},
                                    {&w.wv, v_layer + p0 * kv_dim, kv_dim}};
        matmul(isa, qkv, input_, nt);
        for (size_t t = 0; t < n; ++t) {
            const auto pos = static_cast<int64_t>(p0 + t);
            rope(&q_[t * q_dim], c.n_head, c.head_dim, c.rot_dim, pos, c.rope_freq_base);
            rope(k_layer + (p0 + t) * kv_dim, c.n_kv_head, c.head_dim, c.rot_dim, pos, c.rope_freq_base);
        }
        attention(shape, q_.data(), q_dim, n, p0, k_layer, v_layer, att_.data(), q_dim, scores_.data(), nt);
        input_.set(att_.data(), q_dim, n, q_dim);
        matmul(isa, w.wo, input_, xb2_.data(), dim, nt);
        for (size_t t = 0; t < n; ++t) add(&x_[t * dim], &xb2_[t * dim], dim);

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.ffn_norm.data(), dim, c.norm_eps);
        input_.set(xb_.data(), dim, n, dim);
        const MatmulOutput gate_up[] = {{&w.w_gate, hb_.data(), c.n_ff}, {&w.w_up, hb2_.data(), c.n_ff}};
        matmul(isa, gate_up, input_, nt);
        for (size_t t = 0; t < n; ++t) swiglu(&hb_[t * c.n_ff], &hb2_[t * c.n_ff], c.n_ff);
        input_.set(hb_.data(), c.n_ff, n, c.n_ff);
        matmul(isa, w.w_down, input_, xb2_.data(), dim, nt);
        for (size_t t = 0; t < n; ++t) add(&x_[t * dim], &xb2_[t * dim], dim);
    }
    n_past_ += n;

    // Only the rows whose logits are wanted go through the final norm and output matrix.
    const size_t first = all_logits ? 0 : n - 1;
    for (size_t t = first; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], m.output_norm().data(), dim, c.norm_eps);
    input_.set(&xb_[first * dim], dim, n - first, dim);
    matmul(isa, m.output(), input_, logits, c.n_vocab, nt);
}

}  // namespace kiln
