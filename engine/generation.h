// Generation: prompt in, tokens sampled until end of text, a length limit or a stop string,
// with text released as soon as it is final.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/constraint.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tokenizer/stream_decoder.h"

namespace kiln {

enum class FinishReason { eos, length, stop, interrupted };
const char* finish_reason_name(FinishReason reason);

struct GenerationParams {
    SamplerParams sampler;
    long n_predict = 256;  // -1: until end of text or a full context
    std::vector<std::string> stops;
    bool ignore_eos = false;
    size_t n_logprobs = 0;  // most likely alternatives to report per position
    bool token_logprobs = false;  // fill GeneratedToken::logprob and the sink's prob (always with n_logprobs)
    std::shared_ptr<const Constraint> constraint;  // a grammar the text must follow, or none
};

struct TokenLogprob {
    Token id;
    float logprob;
};

struct GeneratedToken {
    Token id;
    float logprob;  // under the model's own distribution: log-softmax of the raw logits (0 unless asked for)
    std::vector<TokenLogprob> top;  // n_logprobs alternatives, most likely first
};

struct GenerationResult {
    std::string text;
    FinishReason finish = FinishReason::length;
    size_t prompt_tokens = 0;
    size_t prompt_tokens_computed = 0;  // those not already in the session's cache
    std::vector<GeneratedToken> tokens;
    double prompt_seconds = 0.0;
    double generation_seconds = 0.0;
    double mask_seconds = 0.0;  // of generation_seconds, finding the tokens a grammar allows
};

// Receives each piece of final text, with the probability the model gave the token that
// completed it (1 unless GenerationParams::token_logprobs).
using TextSink = std::function<void(std::string_view text, float prob)>;

// Holds back text that could still turn into a stop string, and cuts the text at the first
// stop string that completes.
class StopFilter {
public:
    explicit StopFilter(const std::vector<std::string>& stops) : stops_(stops) {}

    // Adds text; releases what can no longer be part of a stop string. Returns true when a
    // stop string completed: the text before it is released and the rest dropped.
    bool push(std::string_view text, float prob, const TextSink& sink);
    // Releases everything still held.
    void flush(const TextSink& sink);

private:
    void release(size_t n, const TextSink& sink);

    const std::vector<std::string>& stops_;
    std::string pending_;
    std::vector<std::pair<size_t, float>> segments_;  // (end offset in pending_, probability)
};

// One request's decoding: sampling, end-of-text, length and stop strings, text release. The
// caller runs the model: after the prompt and after each token step() returns, it hands the
// logits to step(). generate() and the batch runner both drive it, so they agree token for token.
class Generation {
public:
    // sampler: fresh, owned by the caller, outliving this.
    Generation(const Tokenizer& tok, const GenerationParams& params, Sampler& sampler, const std::vector<Token>& prompt,
               TextSink sink);
    Generation(const Generation&) = delete;  // emit_ refers to this object
    Generation& operator=(const Generation&) = delete;

    // Samples from the logits that follow the tokens so far. Returns the token to evaluate
    // next, or nothing when generation has finished; has_room says whether the context holds
    // one more token.
    std::optional<Token> step(std::span<const float> logits, bool has_room);
    // Finishes as interrupted.
    void interrupt();

    bool done() const { return done_; }
    GenerationResult& result() { return result_; }

private:
    void finish(FinishReason reason);

    const Tokenizer& tok_;
    const GenerationParams& params_;
    Sampler& sampler_;
    TextSink emit_;  // the caller's sink, keeping a copy of the text in result_
    StreamDecoder decoder_;
    StopFilter filter_;
    std::optional<ConstraintState> constraint_;
    GenerationResult result_;
    bool done_ = false;
};

// Runs the prompt through the session and generates. `interrupt`, when set by another thread or
// a signal handler, ends generation after the current token. `cached`: how many leading prompt
// tokens the session already holds from earlier (a conversation's previous turns); they are
// not computed again, unless the session cannot rewind to them (Session::rewind).
GenerationResult generate(Session& session, const std::vector<Token>& prompt, const GenerationParams& params,
                          const TextSink& sink, const std::atomic<bool>* interrupt = nullptr, size_t cached = 0);

}  // namespace kiln
