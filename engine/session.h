// One conversation with a model: its KV cache, its sampler and a forward pass of its own.
// Sessions share the immutable Model; each owns its own memory.
#pragma once

#include <span>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sampler.h"

namespace kiln {

struct SessionOptions {
    size_t n_ctx = 0;      // positions the KV cache holds
    size_t n_batch = 512;  // tokens per forward pass; longer inputs go in chunks
    int n_threads = 1;
    DType cache_type = DType::F16;  // KV cache elements: F32, F16 or Q8_0
};

class Session {
public:
    Session(const Model& model, const SessionOptions& options);

    // Appends tokens at positions n_past() onward and returns the logits of the last one
    // (n_vocab floats), or of every token (n_tokens * n_vocab) when all_logits is set.
    // Throws Error when a token is outside the vocabulary or the context would overflow.
    std::span<const float> eval(std::span<const Token> tokens, bool all_logits = false);

    size_t n_past() const { return n_past_; }
    size_t n_ctx() const { return options_.n_ctx; }
    const Model& model() const { return model_; }

    // Empties the KV cache.
    void clear() { n_past_ = 0; }
    // Shows every later forward pass's matrix inputs to observer (nullptr: none).
    void observe(ActivationObserver* observer) { forward_.observe(observer); }
    // Forgets positions n and on, so that the next eval continues at n; returns n, or 0 (all
    // forgotten) when a sliding-window layer's ring no longer holds the positions n attends to.
    size_t rewind(size_t n);
    // The KV cache's rows of positions [0, n_past()), for a prompt cache; save() is false when
    // a sliding-window ring has wrapped and some of them are gone. restore() reads the first n
    // of the `stored` positions that save() wrote, in place of the cache's; evaluation
    // continues at n.
    bool save(std::ostream& out) const;
    std::array<uint32_t, 4> cache_shape() const { return cache_.shape(); }
    void restore(std::istream& in, size_t n, size_t stored);
    // Empties the KV cache and starts a fresh sampler; returns it. Throws Error on bad params.
    Sampler& start(const SamplerParams& params);
    // A fresh sampler, the KV cache kept (a conversation's next turn).
    Sampler& restart_sampler(const SamplerParams& params);

private:
    const Model& model_;
    SessionOptions options_;
    size_t n_past_ = 0;
    KvCache cache_;
    Forward forward_;
    std::vector<float> logits_;  // all rows of a multi-chunk eval
    Sampler sampler_;
};

}  // namespace kiln
