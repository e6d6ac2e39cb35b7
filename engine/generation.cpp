#include "engine/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/error.h"


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

Generation::Generation(const Tokenizer& tok, const GenerationParams& params, Sampler& sampler,
                       const std::vector<Token>& prompt, TextSink sink)
    : tok_(tok), params_(params), sampler_(sampler),
      emit_([this, sink = std::move(sink)](std::string_view text, float prob) {
          result_.text.append(text);
          sink(text, prob);
      }),
      decoder_(tok, false), filter_(params.stops) {
    result_.prompt_tokens = prompt.size();
    for (Token t : prompt) sampler_.accept(t);
    if (params.constraint) constraint_.emplace(params.constraint);
}

std::optional<Token> Generation::step(std::span<const float> logits, bool has_room) {
    if (done_) return std::nullopt;
    if (params_.n_predict >= 0 && result_.tokens.size() >= static_cast<size_t>(params_.n_predict)) {
        finish(FinishReason::length);
        return std::nullopt;
    }
    Token next;
    if (constraint_) {
        const std::vector<Token>& allowed = constraint_->allowed();
        result_.mask_seconds = constraint_->mask_seconds();
        if (allowed.empty()) throw Error("the grammar allows no token of this vocabulary here (the text so far: " +
                                         std::to_string(result_.text.size()) + " bytes)");
        next = sampler_.sample(logits, allowed);
        // Once the grammar allows nothing more, the end is the only choice, --ignore-eos or not.
        if (tok_.is_end(next)) {
            finish(FinishReason::eos);
            return std::nullopt;
        }
        constraint_->accept(next, tok_);
    } else next = sampler_.sample(logits);
    if (tok_.is_end(next) && !params_.ignore_eos) {
        finish(FinishReason::eos);
        return std::nullopt;
    }
    sampler_.accept(next);
    // The normalizer costs an exp per vocabulary entry: only when someone reads it.
    float logprob = 0.0f;
    std::vector<TokenLogprob> top;
    if (params_.token_logprobs || params_.n_logprobs > 0) {
        const double lse = log_sum_exp(logits);
        logprob = static_cast<float>(logits[static_cast<size_t>(next)] - lse);
        top = top_logprobs(logits, lse, params_.n_logprobs);
    }
    result_.tokens.push_back({next, logprob, std::move(top)});
    if (filter_.push(decoder_.push(next), std::exp(logprob), emit_)) {
        result_.finish = FinishReason::stop;
        done_ = true;
        return std::nullopt;
    }
    if (!has_room) {
        finish(FinishReason::length);  // the context is full
        return std::nullopt;
    }
    return next;
}

void Generation::interrupt() {
    if (!done_) finish(FinishReason::interrupted);
}

void Generation::finish(FinishReason reason) {
    result_.finish = reason;
    done_ = true;
    const float last_prob = result_.tokens.empty() ? 1.0f : std::exp(result_.tokens.back().logprob);
    if (!filter_.push(decoder_.flush(), last_prob, emit_)) filter_.flush(emit_);
    else result_.finish = FinishReason::stop;
}

GenerationResult generate(Session& session, const std::vector<Token>& prompt, const GenerationParams& params,
                          const TextSink& sink, const std::atomic<bool>* interrupt, size_t cached) {
    if (prompt.empty()) throw Error("the prompt is empty");
    // The last prompt token is always computed: its logits start generation.
    const size_t keep = session.rewind(std::min({cached, session.n_past(), prompt.size() - 1}));
    Generation gen(session.model().tokenizer(), params, session.restart_sampler(params.sampler), prompt, sink);
    const auto t_prompt = std::chrono::steady_clock::now();
    std::span<const float> logits = session.eval(std::span<const Token>(prompt).subspan(keep));
    const double prompt_seconds = seconds_since(t_prompt);

    const auto t_gen = std::chrono::steady_clock::now();
    while (true) {
        if (interrupt != nullptr && interrupt->load()) {
            gen.interrupt();
            break;
        }
        const std::optional<Token> next = gen.step(logits, session.n_past() < session.n_ctx());
        if (!next) break;
        logits = session.eval({&*next, 1});
    }
    GenerationResult result = std::move(gen.result());
    result.prompt_tokens_computed = prompt.size() - keep;
    result.prompt_seconds = prompt_seconds;
    result.generation_seconds = seconds_since(t_gen);
    return result;
}

}  // namespace kiln
