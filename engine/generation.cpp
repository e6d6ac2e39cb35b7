#include "engine/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "tokenizer/stream_decoder.h"

namespace kiln {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// log(sum(exp(logits))), computed stably.
double log_sum_exp(std::span<const float> logits) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - max));
    return max + std::log(sum);
}

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, double lse, size_t n) {
    if (n == 0) return {};  // the common case: no allocation per token
    n = std::min(n, logits.size());
    std::vector<Token> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<Token>(i);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n), ids.end(), [&](Token a, Token b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    std::vector<TokenLogprob> out;
    for (size_t i = 0; i < n; ++i) out.push_back({ids[i], static_cast<float>(logits[ids[i]] - lse)});
    return out;
}

}  // namespace

const char* finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::eos: return "eos";
        case FinishReason::length: return "length";
        case FinishReason::stop: return "stop";
        case FinishReason::interrupted: return "interrupted";
    }
    return "?";
}

bool StopFilter::push(std::string_view text, float prob, const TextSink& sink) {
    if (text.empty()) return false;
    pending_.append(text);
    segments_.emplace_back(pending_.size(), prob);
    size_t first = std::string::npos;
    for (const std::string& s : stops_)
        if (!s.empty()) first = std::min(first, pending_.find(s));
    if (first != std::string::npos) {
        release(first, sink);
        pending_.clear();
        segments_.clear();
        return true;
    }
    // Keep the longest tail that is the start of some stop string.
    size_t hold = 0;
    for (const std::string& s : stops_)
        for (size_t len = std::min(s.size() - 1, pending_.size()); len > hold; --len)
            if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
    release(pending_.size() - hold, sink);
    return false;
}

void StopFilter::flush(const TextSink& sink) { release(pending_.size(), sink); }

void StopFilter::release(size_t n, const TextSink& sink) {
    size_t start = 0, done = 0;
    while (done < segments_.size() && start < n) {
        const auto [end, prob] = segments_[done];
        const size_t stop = std::min(end, n);
        sink(std::string_view(pending_).substr(start, stop - start), prob);
        start = stop;
        if (stop == end) ++done;
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(done));
    for (auto& seg : segments_) seg.first -= n;
    pending_.erase(0, n);
}

GenerationResult generate(Session& session, const std::vector<Token>& prompt, const GenerationParams& params,
                          const TextSink& sink, const std::atomic<bool>* interrupt) {
    const Tokenizer& tok = session.model().tokenizer();
    GenerationResult result;
    result.prompt_tokens = prompt.size();
    const TextSink emit = [&](std::string_view text, float prob) {
        result.text.append(text);
        sink(text, prob);
    };

    Sampler& sampler = session.start(params.sampler);
    for (Token t : prompt) sampler.accept(t);
    const auto t_prompt = std::chrono::steady_clock::now();
    std::span<const float> logits = session.eval(prompt);
    result.prompt_seconds = seconds_since(t_prompt);

    const auto t_gen = std::chrono::steady_clock::now();
    StreamDecoder decoder(tok, false);
    StopFilter filter(params.stops);
    bool stopped = false;
    while (true) {
        if (interrupt != nullptr && interrupt->load()) {
            result.finish = FinishReason::interrupted;
            break;
        }
        if (params.n_predict >= 0 && result.tokens.size() >= static_cast<size_t>(params.n_predict)) {
            result.finish = FinishReason::length;
            break;
        }
        const double lse = log_sum_exp(logits);
        const Token next = sampler.sample(logits);
        if (next == tok.eos() && !params.ignore_eos) {
            result.finish = FinishReason::eos;
            break;
        }
        sampler.accept(next);
        const auto logprob = static_cast<float>(logits[static_cast<size_t>(next)] - lse);
        result.tokens.push_back({next, logprob, top_logprobs(logits, lse, params.n_logprobs)});
        if (filter.push(decoder.push(next), std::exp(logprob), emit)) {
            result.finish = FinishReason::stop;
            stopped = true;
            break;
        }
        if (session.n_past() == session.n_ctx()) {
            result.finish = FinishReason::length;  // the context is full
            break;
        }
        logits = session.eval({&next, 1});
    }
    if (!stopped) {
        const float last_prob = result.tokens.empty() ? 1.0f : std::exp(result.tokens.back().logprob);
        if (!filter.push(decoder.flush(), last_prob, emit)) filter.flush(emit);
        else result.finish = FinishReason::stop;
    }
    result.generation_seconds = seconds_since(t_gen);
    return result;
}

}  // namespace kiln
