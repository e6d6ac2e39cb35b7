// kiln bench's two modes: llama-bench's tests (cmd/bench.cpp) and llama-batched-bench's
// (--batched, cmd/bench_batched.cpp), sharing how lists of sizes are written.
#pragma once

#include <string>
#include <vector>

#include "engine/model.h"

namespace kiln::cli {

// llama-bench's lists: comma-separated items, each N, FIRST-LAST (step 1), FIRST-LAST+STEP or
// FIRST-LAST*FACTOR. Throws Error naming the flag when an item is not one, or is below min.
std::vector<int> int_list(const std::vector<std::string>& items, const std::string& flag, int min);

struct BatchedBenchArgs {
    std::vector<std::string> models;
    std::vector<std::string> npp = {"128"}, ntg = {"128"}, npl = {"1"};
    bool shared_prompt = false;
    long n_kv_max = 0;  // -c: tests needing more KV positions are skipped; 0: no limit
    int n_batch = 2048, n_ubatch = 512;
    int threads = 0;
    std::string output = "md";
    std::string cache_type = "f16";
    FileLoad load = FileLoad::automatic;
};

int run_batched_bench_command(const BatchedBenchArgs& a);

}  // namespace kiln::cli
