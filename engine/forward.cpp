#include "engine/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <istream>
#include <ostream>

#include "engine/error.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/quants.h"

namespace kiln {

namespace {

DType checked_cache_type(const ModelConfig& c, DType type) {
    if (!kv_type_fits(type, c.head_dim))
        throw ParamError("cache_type", std::string(cache_type_name(type)) +
                                           " needs heads of a multiple of 32 elements; this model's have " +
                                           std::to_string(c.head_dim) + " (use f16)");
    return type;
}

size_t cache_head_bytes(const ModelConfig& c, DType type) { return row_bytes(*type_info(static_cast<uint32_t>(type)), c.head_dim); }

// Positions each layer's cache holds: a sliding window's ring, or the whole context.
std::vector<size_t> layer_positions(const ModelConfig& c, size_t n_ctx, size_t n_batch) {
    std::vector<size_t> out;
    for (const LayerConfig& l : c.layers)
        out.push_back(l.window > 0 ? std::min(n_ctx, ring_positions(l.window, n_batch)) : n_ctx);
    return out;
}

}  // namespace

std::optional<DType> parse_cache_type(std::string_view name) {
    for (DType t : {DType::F32, DType::F16, DType::Q8_0})
        if (name == cache_type_name(t)) return t;
    return std::nullopt;
}

const char* cache_type_name(DType type) { return type_info(static_cast<uint32_t>(type))->name; }

KvCache::KvCache(const ModelConfig& config, size_t n_ctx, DType type, size_t n_batch)
    : n_ctx_(n_ctx), n_batch_(std::min(n_batch, n_ctx)), n_kv_head_(config.n_kv_head), type_(checked_cache_type(config, type)),
      head_bytes_(cache_head_bytes(config, type)), positions_(layer_positions(config, n_ctx, n_batch_)) {
    size_t total = 0;
    for (size_t p : positions_) {
        offsets_.push_back(total);
        total += config.n_kv_head * p * head_bytes_;
    }
    k_.resize(total);
    v_.resize(total);
}

size_t KvCache::bytes(const ModelConfig& config, size_t n_ctx, DType type, size_t n_batch) {
    size_t positions = 0;
    for (size_t p : layer_positions(config, n_ctx, std::min(n_batch, n_ctx))) positions += p;
    return 2 * config.n_kv_head * positions * cache_head_bytes(config, type);
}

size_t KvCache::intact_prefix(size_t written) const {
    for (size_t p : positions_)
        if (written > p) return 0;
    return written;
}

void KvCache::copy_rows(const KvCache& from, size_t begin, size_t end) {
    if (from.type_ != type_ || from.positions_ != positions_ || from.head_bytes_ != head_bytes_ || begin > end ||
        intact_prefix(end) != end)
        throw Error("KV rows copied between caches of different shapes");
    for (size_t l = 0; l < positions_.size(); ++l)
        for (size_t h = 0; h < n_kv_head_; ++h) {
            const size_t at = offsets_[l] + h * head_stride(l) + begin * head_bytes_, n = (end - begin) * head_bytes_;
            std::copy_n(from.k_.data() + at, n, k_.data() + at);
            std::copy_n(from.v_.data() + at, n, v_.data() + at);
        }
}

void KvCache::write_rows(std::ostream& out, size_t n) const {
    for (size_t l = 0; l < positions_.size(); ++l)
        for (const auto* rows : {&k_, &v_})
            for (size_t h = 0; h < n_kv_head_; ++h)
                out.write(reinterpret_cast<const char*>(rows->data() + offsets_[l] + h * head_stride(l)),
                          static_cast<std::streamsize>(n * head_bytes_));
}

void KvCache::read_rows(std::istream& in, size_t n, size_t stored) {
    if (intact_prefix(n) != n || n > stored) throw Error("KV rows that do not fit this cache");
    for (size_t l = 0; l < positions_.size(); ++l)
        for (auto* rows : {&k_, &v_})
            for (size_t h = 0; h < n_kv_head_; ++h) {
                if (!in.read(reinterpret_cast<char*>(rows->data() + offsets_[l] + h * head_stride(l)),
                             static_cast<std::streamsize>(n * head_bytes_)))
                    throw Error("the KV rows end early");
                in.seekg(static_cast<std::streamoff>((stored - n) * head_bytes_), std::ios::cur);
            }
}

std::array<uint32_t, 4> KvCache::shape() const {
    return {static_cast<uint32_t>(type_), static_cast<uint32_t>(positions_.size()), static_cast<uint32_t>(n_kv_head_),
            static_cast<uint32_t>(head_bytes_)};
}

std::string sliding_window_summary(const ModelConfig& config, size_t n_ctx, size_t n_batch) {
    const auto held = layer_positions(config, n_ctx, std::min(n_batch, n_ctx));
    size_t sliding = 0, window = 0, ring = 0;
    for (size_t l = 0; l < held.size(); ++l)
        if (config.layers[l].window > 0) ++sliding, window = config.layers[l].window, ring = held[l];
    if (sliding == 0) return "";
    return std::to_string(sliding) + " of " + std::to_string(held.size()) + " layers attend over a sliding window of " +
           std::to_string(window) + " positions and keep " + std::to_string(ring) + " of the " + std::to_string(n_ctx) +
           " in their KV cache; the cache takes " +
           std::to_string(KvCache::bytes(config, n_ctx, DType::F16, n_batch) * 100 / KvCache::bytes_full(config, n_ctx, DType::F16)) +
           "% of a full one";
}

size_t KvCache::bytes_full(const ModelConfig& config, size_t n_ctx, DType type) {
    return 2 * config.n_kv_head * config.n_layer * n_ctx * cache_head_bytes(config, type);
}

Forward::Forward(const Model& model, size_t n_batch, int n_threads)
    : model_(model), n_batch_(n_batch), max_threads_(n_threads), n_threads_(n_threads), one_token_threads_(n_threads) {
    const ModelConfig& c = model.config();
    if (n_batch == 0) throw Error("batch size must be at least 1");
    if (n_threads < 1) throw Error("thread count must be at least 1");
    scores_.resize(attention_scratch_floats({c.n_head, c.n_kv_head, c.head_dim, DType::F32, 0, 0}, n_threads));
    if (c.n_expert > 0) {
        slots_.reserve(n_batch * c.n_expert_used);
        order_.reserve(c.n_expert);
    }
}

void Forward::fit_scratch(size_t n) {
    if (n <= scratch_tokens_) return;
    const ModelConfig& c = model_.config();
    scratch_tokens_ = n;
    x_.resize(n * c.n_embd);
    xb_.resize(n * c.n_embd);
    xb2_.resize(n * c.n_embd);
    q_.resize(n * std::max(c.q_dim(), c.n_embd));  // also an expert's output (moe)
    att_.resize(n * c.q_dim());
    hb_.resize(n * c.n_ff);
    hb2_.resize(n * c.n_ff);
    k_new_.resize(n * c.kv_dim());
    v_new_.resize(n * c.kv_dim());
    rope_.resize(c.ropes.size() * n * c.rot_dim);
    if (c.n_expert > 0) {
        router_.resize(n * c.n_expert);
        chosen_.resize(n * c.n_expert_used);
        weight_.resize(n * c.n_expert_used);
        gathered_.resize(n * c.n_embd);
        expert_out_.resize(n * c.n_expert_used * c.n_embd);
    }
}

void Forward::qkv(size_t l, size_t n) {
    const ModelConfig& c = model_.config();
    const LayerWeights& w = model_.layers()[l];
    const size_t q_dim = c.q_dim(), kv_dim = c.kv_dim(), hd = c.head_dim;
    input_.set(xb_.data(), c.n_embd, n, c.n_embd);
    const MatmulOutput out[] = {{&w.wq, q_.data(), q_dim}, {&w.wk, k_new_.data(), kv_dim}, {&w.wv, v_new_.data(), kv_dim}};
    seen({&w.wq, &w.wk, &w.wv}, xb_.data(), c.n_embd, n, c.n_embd);
    matmul(model_.isa(), out, input_, n_threads_);
    for (size_t t = 0; t < n; ++t) {
        float *q = &q_[t * q_dim], *k = &k_new_[t * kv_dim], *v = &v_new_[t * kv_dim];
        if (!w.bq.empty()) {
            add(q, w.bq.data(), q_dim);
            add(k, w.bk.data(), kv_dim);
            add(v, w.bv.data(), kv_dim);
        }
        if (!w.q_norm.empty()) {
            for (size_t h = 0; h < c.n_head; ++h) rmsnorm(q + h * hd, q + h * hd, w.q_norm.data(), hd, c.norm_eps);
            for (size_t h = 0; h < c.n_kv_head; ++h) rmsnorm(k + h * hd, k + h * hd, w.k_norm.data(), hd, c.norm_eps);
        }
        const float* cs = &rope_[(c.layers[l].rope * scratch_tokens_ + t) * c.rot_dim];
        const auto rotate = c.arch->rope == RopeStyle::neox ? rope_neox : rope;
        rotate(q, c.n_head, hd, c.rot_dim, cs);
        rotate(k, c.n_kv_head, hd, c.rot_dim, cs);
    }
}

void Forward::ffn(const FfnWeights& f, size_t n, const float* x, float* out) {
    const size_t n_ff = model_.config().n_ff, dim = model_.config().n_embd;
    const MatmulOutput gate_up[] = {{&f.gate, hb_.data(), n_ff}, {&f.up, hb2_.data(), n_ff}};
    input_.set(x, dim, n, dim);
    seen({&f.gate, &f.up}, x, dim, n, dim);
    matmul(model_.isa(), gate_up, input_, n_threads_);
    const auto activate = model_.config().arch->ffn_act == Activation::gelu_tanh ? geglu : swiglu;
    activate(model_.isa(), hb_.data(), hb2_.data(), n * n_ff, n_threads_);
    input_.set(hb_.data(), n_ff, n, n_ff);
    seen({&f.down}, hb_.data(), n_ff, n, n_ff);
    matmul(model_.isa(), f.down, input_, out, dim, n_threads_);
}

void Forward::moe(const LayerWeights& w, size_t n) {
    const ModelConfig& c = model_.config();
    const size_t dim = c.n_embd, n_exp = c.n_expert, k = c.n_expert_used;
    input_.set(xb_.data(), dim, n, dim);
    seen({&w.router}, xb_.data(), dim, n, dim);
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
        ffn(w.experts[e], g, gathered_.data(), q_.data());
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
    const ModelConfig& c = m.config();
    const Isa isa = m.isa();
    const size_t dim = c.n_embd, kv_dim = c.kv_dim(), q_dim = c.q_dim();
    size_t n = 0;
    for (const TokenRun& r : runs) n += r.tokens.size();
    if (n == 0 || n > n_batch_) throw Error("a forward pass takes 1 to " + std::to_string(n_batch_) + " tokens");
    fit_scratch(n);
    // Longer passes split their work dynamically (matmul), so a busy core slows them less.
    n_threads_ = n == 1 ? one_token_threads_.threads() : max_threads_;
    const int nt = n_threads_;
    const auto start = std::chrono::steady_clock::now();
    for (const TokenRun& r : runs) {
        if (r.cache->type() != runs[0].cache->type() || r.cache->n_ctx() != runs[0].cache->n_ctx() ||
            r.cache->n_batch() != runs[0].cache->n_batch())
            throw Error("the KV caches of one forward pass must share a type and size");
        if (r.tokens.size() > r.cache->n_batch())
            throw Error("a sequence takes at most " + std::to_string(r.cache->n_batch()) + " tokens per forward pass");
    }

    const size_t embd_row = row_bytes(*type_info(static_cast<uint32_t>(m.token_embd().type)), dim);
    const auto* embd = static_cast<const uint8_t*>(m.token_embd().data);
    const float embd_scale = std::sqrt(static_cast<float>(dim));
    for (size_t t = 0; const TokenRun& r : runs)
        for (Token tok : r.tokens) {
            float* x = &x_[t++ * dim];
            dequantize_row(m.token_embd().type, embd + static_cast<size_t>(tok) * embd_row, x, dim);
            if (c.arch->embed_scale)
                for (size_t i = 0; i < dim; ++i) x[i] *= embd_scale;
        }

    const float* factors = c.rope_factors(runs[0].cache->n_ctx());
    for (size_t k = 0; k < c.ropes.size(); ++k)
        for (size_t t = 0; const TokenRun& r : runs)
            for (size_t i = 0; i < r.tokens.size(); ++i, ++t)
                rope_table(static_cast<int64_t>(r.n_past + i), c.rot_dim, c.ropes[k].freq_base, c.ropes[k].freq_scale, factors,
                           c.rope_attn_factor, &rope_[(k * scratch_tokens_ + t) * c.rot_dim]);
    for (size_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& w = m.layers()[l];

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.attn_norm.data(), dim, c.norm_eps);
        qkv(l, n);
        seqs_.clear();
        for (size_t t0 = 0; const TokenRun& r : runs) {
            KvCache& cache = *r.cache;
            const size_t hb = cache.head_bytes(), hs = cache.head_stride(l), held = cache.positions(l);
            for (size_t i = 0; i < r.tokens.size(); ++i) {
                const size_t t = t0 + i, slot = (r.n_past + i) % held;
                for (size_t h = 0; h < c.n_kv_head; ++h) {
                    quantize_row(isa, cache.type(), &k_new_[t * kv_dim + h * c.head_dim], cache.k(l) + h * hs + slot * hb, c.head_dim);
                    quantize_row(isa, cache.type(), &v_new_[t * kv_dim + h * c.head_dim], cache.v(l) + h * hs + slot * hb, c.head_dim);
                }
            }
            seqs_.push_back({&q_[t0 * q_dim], r.tokens.size(), r.n_past, cache.k(l), cache.v(l), &att_[t0 * q_dim]});
            t0 += r.tokens.size();
        }
        const KvCache& cache0 = *runs[0].cache;
        const size_t held = cache0.positions(l);
        const AttentionShape shape{c.n_head,          c.n_kv_head,        c.head_dim,   cache0.type(),
                                   cache0.head_bytes(), cache0.head_stride(l), c.attn_scale, c.layers[l].window,
                                   held < cache0.n_ctx() ? held : 0};
        attention(isa, shape, seqs_, q_dim, q_dim, scores_.data(), nt);
        input_.set(att_.data(), q_dim, n, q_dim);
        seen({&w.wo}, att_.data(), q_dim, n, q_dim);
        matmul(isa, w.wo, input_, xb2_.data(), dim, nt);
        for (size_t t = 0; t < n; ++t) {
            if (!w.post_attn_norm.empty()) rmsnorm(&xb2_[t * dim], &xb2_[t * dim], w.post_attn_norm.data(), dim, c.norm_eps);
            add(&x_[t * dim], &xb2_[t * dim], dim);
        }

        for (size_t t = 0; t < n; ++t) rmsnorm(&xb_[t * dim], &x_[t * dim], w.ffn_norm.data(), dim, c.norm_eps);
        if (w.experts.empty()) {
            ffn(w.ffn, n, xb_.data(), xb2_.data());
        } else {
            moe(w, n);
        }
        for (size_t t = 0; t < n; ++t) {
            if (!w.post_ffn_norm.empty()) rmsnorm(&xb2_[t * dim], &xb2_[t * dim], w.post_ffn_norm.data(), dim, c.norm_eps);
            add(&x_[t * dim], &xb2_[t * dim], dim);
        }
    }

    // Only the rows whose logits are wanted go through the final norm and the output matrix.
    size_t rows = 0;
    for (size_t t0 = 0; const TokenRun& r : runs) {
        const size_t first = r.logits == Logits::all ? 0 : r.logits == Logits::last ? r.tokens.size() - 1 : r.tokens.size();
        for (size_t i = first; i < r.tokens.size(); ++i, ++rows)
            rmsnorm(&xb_[rows * dim], &x_[(t0 + i) * dim], m.output_norm().data(), dim, c.norm_eps);
        t0 += r.tokens.size();
    }
    if (rows > 0) {
        if (logits_.size() < rows * c.n_vocab) logits_.resize(rows * c.n_vocab);
        input_.set(xb_.data(), dim, rows, dim);
        seen({&m.output()}, xb_.data(), dim, rows, dim);
        matmul(isa, m.output(), input_, logits_.data(), c.n_vocab, nt);
    }
    if (n == 1) one_token_threads_.record(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return {logits_.data(), rows * c.n_vocab};
}

}  // namespace kiln
