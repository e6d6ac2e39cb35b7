#include "engine/session.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/memory.h"

namespace kiln {

namespace {

// Checked before anything is allocated.
SessionOptions checked(const Model& model, SessionOptions options) {
    if (options.n_ctx == 0) throw Error("context size must be at least 1");
    if (options.n_threads < 1) throw Error("thread count must be at least 1");
    options.n_batch = std::clamp<size_t>(options.n_batch, 1, options.n_ctx);
    check_memory(KvCache::bytes(model.config(), options.n_ctx, options.cache_type, options.n_batch),
                 "a context of " + std::to_string(options.n_ctx) + " positions (KV cache)");
    return options;
}

}  // namespace

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model), options_(checked(model, options)), cache_(model.config(), options_.n_ctx, options_.cache_type, options_.n_batch),
      forward_(model, options_.n_batch, options_.n_threads),
      sampler_(SamplerParams{}, model.config().n_vocab) {}

Sampler& Session::start(const SamplerParams& params) {
    restart_sampler(params);
    clear();
    return sampler_;
}

Sampler& Session::restart_sampler(const SamplerParams& params) {
    sampler_ = Sampler(params, model_.config().n_vocab);
    return sampler_;
}

size_t Session::rewind(size_t n) {
    if (n >= n_past_) return n_past_;
    const ModelConfig& c = model_.config();
    for (size_t l = 0; l < c.layers.size(); ++l) {
        // A ring holds the latest positions(l) positions; the next token at n reads n - window on.
        const size_t window = c.layers[l].window, held = cache_.positions(l);
        if (window > 0 && held < options_.n_ctx && n_past_ - n + window > held) return n_past_ = 0;
    }
    return n_past_ = n;
}

bool Session::save(std::ostream& out) const {
    if (cache_.intact_prefix(n_past_) != n_past_) return false;
    cache_.write_rows(out, n_past_);
    return true;
}

void Session::restore(std::istream& in, size_t n, size_t stored) {
    if (n >= options_.n_ctx || n > stored)
        throw Error("a prompt cache of " + std::to_string(n) + " positions does not fit a context of " +
                    std::to_string(options_.n_ctx));
    n_past_ = 0;
    cache_.read_rows(in, n, stored);
    n_past_ = n;
}

std::span<const float> Session::eval(std::span<const Token> tokens, bool all_logits) {
    const ModelConfig& c = model_.config();
    if (tokens.empty()) throw Error("nothing to evaluate");
    if (tokens.size() > options_.n_ctx - n_past_)
        throw Error("context is full: " + std::to_string(n_past_) + " + " + std::to_string(tokens.size()) +
                    " tokens do not fit in " + std::to_string(options_.n_ctx));
    for (Token t : tokens)
        if (t < 0 || static_cast<size_t>(t) >= c.n_vocab)
            throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(c.n_vocab));
    const bool one_pass = tokens.size() <= options_.n_batch;
    if (all_logits && !one_pass) logits_.resize(tokens.size() * c.n_vocab);
    std::span<const float> out;
    for (size_t done = 0; done < tokens.size(); done += options_.n_batch) {
        const size_t n = std::min(options_.n_batch, tokens.size() - done);
        const bool last = done + n == tokens.size();
        const TokenRun run{tokens.subspan(done, n), &cache_, n_past_,
                           all_logits ? Logits::all : last ? Logits::last : Logits::none};
        out = forward_.run({&run, 1});
        n_past_ += n;
        if (all_logits && !one_pass) std::copy(out.begin(), out.end(), logits_.begin() + done * c.n_vocab);
    }
    return all_logits && !one_pass ? std::span<const float>(logits_) : out;
}

}  // namespace kiln
