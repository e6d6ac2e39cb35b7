// Speed measurements with llama-bench's semantics: pp = one batched pass of n tokens into an
// empty cache; tg = n single-token steps from an empty cache; pg = pp then tg; with a depth d,
// the cache first holds d tokens (not timed), so the test pays attention over them. Loading,
// tokenization and sampling are not timed.
#pragma once

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
    std::vector<double> samples_ts;  // tokens per second, one per repetition
    double avg_ts = 0.0, stddev_ts = 0.0;
};

// Runs the test once as a warm-up, then `reps` times, each into a cleared session whose
// context holds n_depth + n_prompt + n_gen tokens.
BenchResult run_bench(Session& session, const BenchTest& test, int reps);

// Parameters in the file (every tensor element), as llama-bench counts them.
size_t model_params(const Model& model);

}  // namespace kiln
