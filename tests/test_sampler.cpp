// Each sampler stage on fixed logits, the draw's distribution, and stop strings.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/generation.h"
#include "engine/sampler.h"

using namespace kiln;

namespace {

Candidates make(const std::vector<float>& logits) {
    Candidates c;
    for (size_t i = 0; i < logits.size(); ++i) c.items.push_back({static_cast<Token>(i), logits[i], 0.0f});
    return c;
}

std::vector<Token> ids(const Candidates& c) {
    std::vector<Token> out;
    for (const Candidate& k : c.items) out.push_back(k.id);
    return out;
}

// Logits whose softmax is exactly these probabilities.
std::vector<float> from_probs(const std::vector<double>& p) {
    std::vector<float> out;
    for (double x : p) out.push_back(static_cast<float>(std::log(x)));
    return out;
}

}  // namespace

TEST_CASE("top-k keeps exactly the k most likely", "[sampler]") {
    Candidates c;
    top_k(std::vector<float>{0.1f, 3.0f, -1.0f, 2.0f, 2.5f, 0.0f}, 3, c);
    CHECK(ids(c) == std::vector<Token>{1, 4, 3});
    CHECK(c.sorted);
    top_k(std::vector<float>{1.0f, 2.0f}, 0, c);
    CHECK(ids(c) == std::vector<Token>{0, 1});
    top_k(std::vector<float>{1.0f, 2.0f}, 5, c);
    CHECK(ids(c) == std::vector<Token>{0, 1});

    // Many ties, against a full sort: ties go to the lower id.
    std::mt19937 rng(3);
    std::vector<float> logits(5000);
    for (float& l : logits) l = static_cast<float>(rng() % 64) * 0.25f;
    for (size_t k : {1, 7, 40, 4999}) {
        Candidates sorted = make(logits);
        sort_by_logit(sorted);
        sorted.items.resize(k);
        top_k(logits, k, c);
        CHECK(ids(c) == ids(sorted));
    }
}

TEST_CASE("top-p keeps the smallest set reaching p", "[sampler]") {
    const auto logits = from_probs({0.1, 0.4, 0.05, 0.3, 0.15});
    Candidates c = make(logits);
    top_p(c, 0.69f);  // 0.4 + 0.3 reaches it
    CHECK(ids(c) == std::vector<Token>{1, 3});
    c = make(logits);
    top_p(c, 0.71f);  // needs the 0.15 too
    CHECK(ids(c) == std::vector<Token>{1, 3, 4});
    c = make(logits);
    top_p(c, 0.01f);
    CHECK(ids(c) == std::vector<Token>{1});
}

TEST_CASE("min-p removes what is below p times the top probability", "[sampler]") {
    Candidates c = make(from_probs({0.1, 0.4, 0.05, 0.3, 0.15}));
    min_p(c, 0.3f);  // threshold 0.12: keeps 0.4, 0.3, 0.15
    CHECK(ids(c) == std::vector<Token>{1, 3, 4});
    c = make(from_probs({0.1, 0.4, 0.05, 0.3, 0.15}));
    min_p(c, 1.0f);
    CHECK(ids(c) == std::vector<Token>{1});
}

TEST_CASE("penalties change exactly the recent tokens", "[sampler]") {
    std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f};
    const std::vector<int> counts = {1, 2, 0, 3};
    apply_penalties(logits, counts, 2.0f, 0.1f, 0.5f);
    CHECK(logits[0] == Approx(2.0f / 2 - 0.1f - 0.5f));
    CHECK(logits[1] == Approx(-2.0f * 2 - 0.2f - 0.5f));
    CHECK(logits[2] == 1.0f);  // not recent: untouched
    CHECK(logits[3] == Approx(0.5f / 2 - 0.3f - 0.5f));
}

TEST_CASE("the sampler's penalty window forgets old tokens", "[sampler]") {
    SamplerParams p;
    p.temp = 0.0f;
    p.repeat_penalty = 100.0f;
    p.repeat_last_n = 2;
    Sampler s(p, 3);
    const std::vector<float> logits = {1.0f, 0.9f, 0.8f};
    s.accept(0);
    CHECK(s.sample(logits) == 1);  // 0 is penalised
    s.accept(1);
    CHECK(s.sample(logits) == 2);  // 0 and 1 are
    s.accept(2);                   // the window now holds 1, 2: 0 is free again
    CHECK(s.sample(logits) == 0);
}

TEST_CASE("typical keeps the tokens closest to the expected surprise", "[sampler]") {
    // Entropy of {0.5, 0.3, 0.1, 0.1} is 1.168 nats; surprises are 0.69, 1.20, 2.30, 2.30.
    // Closest first: 0.3 (|1.20-1.17|), 0.5 (0.47), then the 0.1s. Mass 0.3 + 0.5 = 0.8 > 0.7.
    Candidates c = make(from_probs({0.1, 0.5, 0.1, 0.3}));
    typical(c, 0.7f);
    CHECK(ids(c) == std::vector<Token>{1, 3});
    c = make(from_probs({0.1, 0.5, 0.1, 0.3}));
    typical(c, 0.2f);
    CHECK(ids(c) == std::vector<Token>{3});
}

TEST_CASE("seeded draws follow softmax(logits / temp)", "[sampler]") {
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f, 0.25f, 1.5f};
    for (float temp : {0.5f, 1.0f, 2.0f}) {
        SamplerParams p;
        p.temp = temp;
        p.top_k = 0;
        p.top_p = 1.0f;
        p.min_p = 0.0f;
        p.seed = 1234;
        Sampler s(p, logits.size());
        const int n = 200000;
        std::vector<int> counts(logits.size());
        for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.sample(logits))];
        double z = 0.0;
        for (float l : logits) z += std::exp(l / temp);
        double chi2 = 0.0;
        for (size_t i = 0; i < logits.size(); ++i) {
            const double expected = n * std::exp(logits[i] / temp) / z;
            chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
        }
        INFO("temp " << temp << ": chi-square " << chi2);
        CHECK(chi2 < 24.32);  // 0.999 quantile of chi-square with 7 degrees of freedom
    }
}

TEST_CASE("temperature 0 is the argmax after penalties", "[sampler]") {
    SamplerParams p;
    p.temp = 0.0f;
    Sampler s(p, 4);
    CHECK(s.sample(std::vector<float>{0.0f, 3.0f, 2.9f, -1.0f}) == 1);
}

TEST_CASE("sampler settings out of range are refused, by the parameter's name", "[sampler][bad-input]") {
    // The engine names the parameter; the CLI says the flag or the batch field (test_run, test_batch).
    const auto refused = [](const SamplerParams& p) {
        try {
            validate(p);
        } catch (const ParamError& e) {
            return e.param + ": " + e.rule;
        }
        return std::string("accepted");
    };
    SamplerParams p;
    p.top_p = 2.0f;
    CHECK(refused(p) == "top_p: must be in (0, 1]");
    p = {};
    p.temp = -1.0f;
    CHECK(refused(p) == "temp: must be 0 or more");
    p = {};
    p.min_p = 1.5f;
    CHECK(refused(p) == "min_p: must be in [0, 1]");
    CHECK(refused({}) == "accepted");
}

TEST_CASE("stop strings are cut out and their starts held back", "[sampler]") {
    const std::vector<std::string> stops = {"END", "\n\n"};
    std::string out;
    std::vector<float> probs;
    const TextSink sink = [&](std::string_view t, float p) {
        out.append(t);
        probs.push_back(p);
    };
    StopFilter f(stops);
    CHECK_FALSE(f.push("hello E", 0.5f, sink));
    CHECK(out == "hello ");  // "E" might start "END"
    CHECK_FALSE(f.push("N", 0.6f, sink));
    CHECK(out == "hello ");
    CHECK_FALSE(f.push("x", 0.7f, sink));
    CHECK(out == "hello ENx");  // not a stop after all
    CHECK(probs == std::vector<float>{0.5f, 0.5f, 0.6f, 0.7f});
    CHECK(f.push("yE", 0.8f, sink) == false);
    CHECK(f.push("ND and more", 0.9f, sink));  // spans two pushes
    CHECK(out == "hello ENxy");
}
