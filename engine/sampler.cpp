#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"

namespace kiln {

namespace {

bool by_logit(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);  // ties by id: reproducible order
}

void keep(Candidates& c, size_t n) { c.items.resize(std::max<size_t>(1, std::min(n, c.items.size()))); }

void check(bool ok, const char* param, const char* rule) {
    if (!ok) throw ParamError(param, rule);
}

}  // namespace

void validate(const SamplerParams& s) {
    check(std::isfinite(s.temp) && s.temp >= 0.0f, "temp", "must be 0 or more");
    check(s.top_k >= 0, "top_k", "must be 0 (off) or more");
    check(s.typical > 0.0f && s.typical <= 1.0f, "typical", "must be in (0, 1]");
    check(s.top_p > 0.0f && s.top_p <= 1.0f, "top_p", "must be in (0, 1]");
    check(s.min_p >= 0.0f && s.min_p <= 1.0f, "min_p", "must be in [0, 1]");
    check(std::isfinite(s.repeat_penalty) && s.repeat_penalty > 0.0f, "repeat_penalty", "must be positive");
    check(s.repeat_last_n >= 0, "repeat_last_n", "must be 0 or more");
    check(std::isfinite(s.frequency_penalty), "frequency_penalty", "must be a number");
    check(std::isfinite(s.presence_penalty), "presence_penalty", "must be a number");
}

void apply_penalties(std::span<float> logits, std::span<const int> counts, float repeat, float frequency, float presence) {
    for (size_t i = 0; i < logits.size(); ++i) {
        const int n = counts[i];
        if (n == 0) continue;
        float& l = logits[i];
        // As llama.cpp: a penalty above 1 always makes the token less likely, whatever its sign.
        l = l <= 0.0f ? l * repeat : l / repeat;
        l -= static_cast<float>(n) * frequency + presence;
    }
}

void sort_by_logit(Candidates& c) {
    if (!c.sorted) std::sort(c.items.begin(), c.items.end(), by_logit);
    c.sorted = true;
}

// The k best of the allowed ids (ascending), or of all when allowed is empty.
void top_k(std::span<const float> logits, size_t k, Candidates& c, std::span<const Token> allowed) {
    if (!allowed.empty()) {
        c.items.clear();
        for (Token id : allowed) c.items.push_back({id, logits[static_cast<size_t>(id)], 0.0f});
        if (k != 0 && k < c.items.size()) {
            std::partial_sort(c.items.begin(), c.items.begin() + static_cast<long>(k), c.items.end(), by_logit);
            c.items.resize(k);
            c.sorted = true;
        } else c.sorted = false;
        return;
    }
    c.items.clear();
    if (k == 0 || k >= logits.size()) {
        for (size_t i = 0; i < logits.size(); ++i) c.items.push_back({static_cast<Token>(i), logits[i], 0.0f});
        c.sorted = false;
        return;
    }
    // A heap of the k best so far with the worst on top: most logits lose to it in one
    // comparison. A later id never wins a tie, so "greater than the worst" is the whole test.
    for (size_t i = 0; i < k; ++i) c.items.push_back({static_cast<Token>(i), logits[i], 0.0f});
    std::make_heap(c.items.begin(), c.items.end(), by_logit);
    for (size_t i = k; i < logits.size(); ++i) {
        if (!(logits[i] > c.items.front().logit)) continue;
        std::pop_heap(c.items.begin(), c.items.end(), by_logit);
        c.items.back() = {static_cast<Token>(i), logits[i], 0.0f};
        std::push_heap(c.items.begin(), c.items.end(), by_logit);
    }
    std::sort_heap(c.items.begin(), c.items.end(), by_logit);
    c.sorted = true;
}

void softmax(Candidates& c) {
    sort_by_logit(c);
    const float max = c.items.front().logit;
    double sum = 0.0;
    for (Candidate& k : c.items) {
        k.p = std::exp(k.logit - max);
        sum += k.p;
    }
    for (Candidate& k : c.items) k.p = static_cast<float>(k.p / sum);
}

void top_p(Candidates& c, float p) {
    if (p >= 1.0f) return;
    softmax(c);
    double cum = 0.0;
    for (size_t i = 0; i < c.items.size(); ++i) {
        cum += c.items[i].p;
        if (cum >= p) return keep(c, i + 1);
    }
}

void min_p(Candidates& c, float p) {
    if (p <= 0.0f) return;
    softmax(c);
    const float threshold = c.items.front().p * p;
    size_t n = 1;
    while (n < c.items.size() && c.items[n].p >= threshold) ++n;
    keep(c, n);
}

void typical(Candidates& c, float p) {
    if (p >= 1.0f) return;
    softmax(c);
    double entropy = 0.0;
    for (const Candidate& k : c.items)
        if (k.p > 0.0f) entropy -= k.p * std::log(static_cast<double>(k.p));
    // Keep the tokens whose surprise is closest to the expected surprise, up to mass p.
    std::vector<std::pair<double, size_t>> order(c.items.size());
    for (size_t i = 0; i < c.items.size(); ++i)
        order[i] = {std::fabs(-std::log(static_cast<double>(c.items[i].p)) - entropy), i};
    std::stable_sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.first < b.first; });
    double cum = 0.0;
    size_t n = order.size();
    for (size_t i = 0; i < order.size(); ++i) {
        cum += c.items[order[i].second].p;
        if (cum > p) {
            n = i + 1;
            break;
        }
    }
    std::vector<Candidate> kept;
    for (size_t i = 0; i < n; ++i) kept.push_back(c.items[order[i].second]);
    c.items = std::move(kept);
    c.sorted = false;
    sort_by_logit(c);
}

size_t draw(const Candidates& c, double u) {
    double total = 0.0;
    for (const Candidate& k : c.items) total += k.p;
    const double target = u * total;
    double cum = 0.0;
    for (size_t i = 0; i < c.items.size(); ++i) {
        cum += c.items[i].p;
        if (target < cum) return i;
    }
    return c.items.size() - 1;
}

Sampler::Sampler(const SamplerParams& params, size_t n_vocab)
    : params_(params), rng_(params.seed), counts_(n_vocab, 0) {
    validate(params_);
    recent_.reserve(static_cast<size_t>(params_.repeat_last_n));
    candidates_.items.reserve(n_vocab);
}

void Sampler::accept(Token token) {
    if (params_.repeat_last_n == 0 || token < 0 || static_cast<size_t>(token) >= counts_.size()) return;
    if (recent_.size() < static_cast<size_t>(params_.repeat_last_n)) {
        recent_.push_back(token);
    } else {
        --counts_[static_cast<size_t>(recent_[recent_next_])];
        recent_[recent_next_] = token;
        recent_next_ = (recent_next_ + 1) % recent_.size();
    }
    ++counts_[static_cast<size_t>(token)];
}

Token Sampler::sample(std::span<const float> logits, std::span<const Token> allowed) {
    Candidates& c = candidates_;
    const SamplerParams& s = params_;
    if (!recent_.empty() && (s.repeat_penalty != 1.0f || s.frequency_penalty != 0.0f || s.presence_penalty != 0.0f)) {
        penalized_.assign(logits.begin(), logits.end());
        apply_penalties(penalized_, counts_, s.repeat_penalty, s.frequency_penalty, s.presence_penalty);
        logits = penalized_;
    }
    top_k(logits, static_cast<size_t>(s.top_k), c, allowed);
    typical(c, s.typical);
    top_p(c, s.top_p);
    min_p(c, s.min_p);
    if (s.temp == 0.0f) {
        sort_by_logit(c);
        return c.items.front().id;
    }
    for (Candidate& k : c.items) k.logit /= s.temp;
    softmax(c);
    // 53 random bits to a double in [0, 1): the same on every standard library.
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return c.items[draw(c, u)].id;
}

}  // namespace kiln
