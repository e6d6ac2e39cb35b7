// Speed measurements with llama-bench's semantics: pp = one batched pass of n tokens into an
// empty cache; tg = n single-token steps from an empty cache; pg = pp then tg; with a depth d,
// the cache first holds d tokens (not timed), so the test pays attention over them. Loading,
// tokenization and sampling are not timed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/session.h"

namespace kiln {

struct BenchTest {
    size_t n_prompt = 0;
    size_t n_gen = 0;
    size_t n_depth = 0;
    std::string name() const;  // "pp512", "tg128", "pp512+tg128", "pp512 @ d4096"
};

struct BenchResult {
    std::vector<double> samples_ns;  // nanoseconds, one per repetition
    std::vector<double> samples_ts;  // tokens per second, the same
    double avg_ns = 0.0, stddev_ns = 0.0, avg_ts = 0.0, stddev_ts = 0.0;
};

struct BenchOptions {
    int reps = 5;
    size_t n_batch = 2048;  // prompt tokens per eval call (the session's n_batch splits them into passes)
    bool warmup = true;     // one untimed run first
};

// Runs the test (after a warm-up unless told not to) `reps` times, each into a cleared session
// whose context holds n_depth + n_prompt + n_gen tokens; on_rep(i) before repetition i.
BenchResult run_bench(Session& session, const BenchTest& test, const BenchOptions& options,
                      const std::function<void(int)>& on_rep = {});

// llama-batched-bench's test: n_parallel sequences each take an n_prompt-token prompt (in
// passes of up to n_batch tokens, several sequences per pass), then generate n_gen tokens
// together, one token per sequence per pass. With shared_prompt the prompt is computed once
// and its KV rows copied to the other sequences.
struct BatchedBenchTest {
    size_t n_prompt = 0, n_gen = 0, n_parallel = 1;
    bool shared_prompt = false;
    size_t n_kv() const { return (shared_prompt ? n_prompt : n_parallel * n_prompt) + n_parallel * n_gen; }
};
struct BatchedBenchResult {
    double t_pp = 0.0, t_tg = 0.0;  // seconds
};
BatchedBenchResult run_batched_bench(const Model& model, const BatchedBenchTest& test, size_t n_batch, int n_threads,
                                     DType cache_type);

// Parameters in the file (every tensor element), as llama-bench counts them.
size_t model_params(const Model& model);

}  // namespace kiln
