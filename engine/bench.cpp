#include "engine/bench.h"

#include <algorithm>
#include <span>
#include <tuple>

#include <chrono>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/memory.h"

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
                Token first_gen, size_t n_batch) {
    s.clear();
    if (!depth.empty()) s.eval(depth);
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < prompt.size(); i += n_batch)
        s.eval(std::span<const Token>(prompt).subspan(i, std::min(n_batch, prompt.size() - i)));
    Token next = first_gen;
    for (size_t i = 0; i < test.n_gen; ++i) s.eval({&next, 1});
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Mean and sample standard deviation.
std::pair<double, double> mean_stddev(const std::vector<double>& v) {
    const double n = static_cast<double>(v.size());
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
    double var = 0.0;
    for (double x : v) var += (x - mean) * (x - mean);
    return {mean, n > 1 ? std::sqrt(var / (n - 1)) : 0.0};
}

}  // namespace

BenchResult run_bench(Session& session, const BenchTest& test, const BenchOptions& options, const std::function<void(int)>& on_rep) {
    const size_t n_vocab = session.model().config().n_vocab;
    const std::vector<Token> prompt = bench_tokens(test.n_prompt, n_vocab);
    std::vector<Token> depth = bench_tokens(test.n_depth + 1, n_vocab);  // shifted: not the prompt's tokens
    depth.erase(depth.begin());
    const Token first_gen = session.model().tokenizer().bos();
    const size_t n_batch = std::max<size_t>(options.n_batch, 1);
    if (options.warmup) run_once(session, test, depth, prompt, first_gen, n_batch);
    BenchResult r;
    const double tokens = static_cast<double>(test.n_prompt + test.n_gen);
    for (int i = 0; i < options.reps; ++i) {
        if (on_rep) on_rep(i);
        const double seconds = run_once(session, test, depth, prompt, first_gen, n_batch);
        r.samples_ns.push_back(seconds * 1e9);
        r.samples_ts.push_back(tokens / seconds);
    }
    std::tie(r.avg_ns, r.stddev_ns) = mean_stddev(r.samples_ns);
    std::tie(r.avg_ts, r.stddev_ts) = mean_stddev(r.samples_ts);
    return r;
}

BatchedBenchResult run_batched_bench(const Model& model, const BatchedBenchTest& test, size_t n_batch, int n_threads,
                                     DType cache_type) {
    const ModelConfig& c = model.config();
    const size_t pl = test.n_parallel, n_ctx = test.n_prompt + test.n_gen;
    if (pl == 0 || n_ctx == 0) throw Error("a batched test needs at least one sequence and one token");
    n_batch = std::max<size_t>(n_batch, pl);  // a generation pass takes one token of every sequence
    const size_t per_seq_batch = std::min(n_batch, std::max<size_t>(test.n_prompt, 1));
    check_memory(pl * KvCache::bytes(c, n_ctx, cache_type, per_seq_batch),
                 std::to_string(pl) + " sequences of " + std::to_string(n_ctx) + " positions (KV caches)");
    std::vector<KvCache> caches;
    caches.reserve(pl);
    for (size_t s = 0; s < pl; ++s) caches.emplace_back(c, n_ctx, cache_type, per_seq_batch);
    Forward forward(model, n_batch, n_threads);
    const std::vector<Token> prompt = bench_tokens(test.n_prompt, c.n_vocab);
    const Token next = model.tokenizer().bos();

    // Untimed warm-up: one short pass.
    const std::vector<Token> warm = bench_tokens(std::min<size_t>(8, n_ctx), c.n_vocab);
    forward.run(std::vector<TokenRun>{{warm, &caches[0], 0, Logits::last}});

    BatchedBenchResult r;
    const auto t0 = std::chrono::steady_clock::now();
    // The prompts, as many sequences' pieces per pass as n_batch holds, in sequence order.
    const size_t computed = test.shared_prompt ? 1 : pl;
    std::vector<size_t> done(pl, 0);
    std::vector<TokenRun> runs;
    for (size_t s = 0; s < computed;) {
        runs.clear();
        size_t room = n_batch;
        for (size_t q = s; q < computed && room > 0; ++q) {
            const size_t take = std::min({room, test.n_prompt - done[q], caches[q].n_batch()});
            if (take == 0) continue;
            const bool last = done[q] + take == test.n_prompt;
            runs.push_back({std::span<const Token>(prompt).subspan(done[q], take), &caches[q], done[q], last ? Logits::last : Logits::none});
            done[q] += take;
            room -= take;
        }
        if (!runs.empty()) forward.run(runs);
        while (s < computed && done[s] == test.n_prompt) ++s;
    }
    for (size_t q = 1; q < pl && test.shared_prompt; ++q) caches[q].copy_rows(caches[0], 0, test.n_prompt);
    const auto t1 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < test.n_gen; ++i) {
        runs.clear();
        for (size_t q = 0; q < pl; ++q) runs.push_back({{&next, 1}, &caches[q], test.n_prompt + i, Logits::last});
        forward.run(runs);
    }
    const auto t2 = std::chrono::steady_clock::now();
    r.t_pp = std::chrono::duration<double>(t1 - t0).count();
    r.t_tg = std::chrono::duration<double>(t2 - t1).count();
    return r;
}

size_t model_params(const Model& model) {
    size_t n = 0;
    for (const GgufTensor& t : model.gguf().tensors()) n += t.n_elems;
    return n;
}

}  // namespace kiln
