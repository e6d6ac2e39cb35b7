#include "engine/bench.h"

#include <chrono>
#include <cmath>
#include <numeric>

namespace kiln {

std::string BenchTest::name() const {
    const std::string depth = n_depth > 0 ? " @ d" + std::to_string(n_depth) : "";
    if (n_prompt > 0 && n_gen > 0) return "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen) + depth;
    return (n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen)) + depth;
}

namespace {

// Token ids spread over the vocabulary, as llama-bench feeds random ones.
std::vector<Token> bench_tokens(size_t n, size_t n_vocab) {
    std::vector<Token> t(n);
    for (size_t i = 0; i < n; ++i) t[i] = static_cast<Token>((i * 7919 + 13) % n_vocab);
    return t;
}

double run_once(Session& s, const BenchTest& test, const std::vector<Token>& depth, const std::vector<Token>& prompt,
                Token first_gen) {
    s.clear();
    if (!depth.empty()) s.eval(depth);
    const auto t0 = std::chrono::steady_clock::now();
    if (test.n_prompt > 0) s.eval(prompt);
    Token next = first_gen;
    for (size_t i = 0; i < test.n_gen; ++i) s.eval({&next, 1});
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

BenchResult run_bench(Session& session, const BenchTest& test, int reps) {
    const size_t n_vocab = session.model().config().n_vocab;
    const std::vector<Token> prompt = bench_tokens(test.n_prompt, n_vocab);
    std::vector<Token> depth = bench_tokens(test.n_depth + 1, n_vocab);  // shifted: not the prompt's tokens
    depth.erase(depth.begin());
    const Token first_gen = session.model().tokenizer().bos();
    run_once(session, test, depth, prompt, first_gen);
    BenchResult r;
    const double tokens = static_cast<double>(test.n_prompt + test.n_gen);
    for (int i = 0; i < reps; ++i) r.samples_ts.push_back(tokens / run_once(session, test, depth, prompt, first_gen));
    const double n = static_cast<double>(r.samples_ts.size());
    r.avg_ts = std::accumulate(r.samples_ts.begin(), r.samples_ts.end(), 0.0) / n;
    double var = 0.0;
    for (double x : r.samples_ts) var += (x - r.avg_ts) * (x - r.avg_ts);
    r.stddev_ts = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
    return r;
}

size_t model_params(const Model& model) {
    size_t n = 0;
    for (const GgufTensor& t : model.gguf().tensors()) n += t.n_elems;
    return n;
}

}  // namespace kiln
