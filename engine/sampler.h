// Token sampling as llama.cpp users know it. The chain runs in this fixed order, each stage
// skipped when its setting is neutral:
//   penalties (repeat, frequency, presence) -> top-k -> typical -> top-p -> min-p -> temperature -> draw
// Temperature 0 takes the most likely remaining token instead of drawing.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kiln {

struct SamplerParams {
    float temp = 0.8f;
    int top_k = 40;            // 0: off
    float typical = 1.0f;      // 1: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off
    float repeat_penalty = 1.0f;
    int repeat_last_n = 64;    // window of recent tokens the penalties look at; 0: off
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    uint64_t seed = 0;
};

// Throws Error naming the first setting that is out of range.
void validate(const SamplerParams& params);

struct Candidate {
    Token id;
    float logit;
    float p;  // probability, filled by softmax()
};

// The stages, over a candidate list. `sorted` means sorted by logit, highest first.
struct Candidates {
    std::vector<Candidate> items;
    bool sorted = false;
};

// counts[id]: how often token id occurs among the recent tokens.
void apply_penalties(std::span<float> logits, std::span<const int> counts, float repeat, float frequency, float presence);
// The candidate list: the k most likely, sorted (all of them, unsorted, when k is 0 or too big);
// of the allowed ids only (ascending), when given.
void top_k(std::span<const float> logits, size_t k, Candidates& c, std::span<const Token> allowed = {});
void typical(Candidates& c, float p);
void top_p(Candidates& c, float p);
void min_p(Candidates& c, float p);
void sort_by_logit(Candidates& c);
void softmax(Candidates& c);  // sorts, then sets p
// Index of the candidate a uniform number u in [0, 1) selects (after softmax).
size_t draw(const Candidates& c, double u);

class Sampler {
public:
    Sampler(const SamplerParams& params, size_t n_vocab);

    // Records a token (prompt or generated) for the penalties.
    void accept(Token token);
    // Picks the next token from the model's logits; among `allowed` only (ascending ids), when
    // given, before any other stage (a grammar's choice).
    Token sample(std::span<const float> logits, std::span<const Token> allowed = {});

private:
    SamplerParams params_;
    std::mt19937_64 rng_;
    std::vector<Token> recent_;  // ring of the last repeat_last_n tokens
    size_t recent_next_ = 0;
    std::vector<int> counts_;    // per token id, over the ring
    std::vector<float> penalized_;
    Candidates candidates_;
};

}  // namespace kiln
