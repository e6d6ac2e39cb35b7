// kiln bench --batched: throughput of many sequences at once, as llama-batched-bench measures
// it: for each prompt size PP, generation length TG and sequence count B, the prompts' pass
// time T_PP and speed S_PP = B * PP / T_PP, the generation's T_TG and S_TG = B * TG / T_TG,
// and the whole: T = T_PP + T_TG, S = N_KV / T.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cmd/bench.h"
#include "cmd/options.h"
#include "engine/bench.h"
#include "engine/error.h"
#include "engine/machine.h"

namespace kiln::cli {

int run_batched_bench_command(const BatchedBenchArgs& a) {
    if (a.output != "md" && a.output != "jsonl" && a.output != "json")
        throw Error("-o/--output must be md, json or jsonl with --batched");
    if (a.n_kv_max < 0) throw Error("-c/--ctx-size must be 0 (no limit) or more");
    if (a.n_batch < 1 || a.n_ubatch < 1) throw Error("-b/--batch-size and -ub/--ubatch-size must be at least 1");
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    const std::vector<int> npp = int_list(a.npp, "-npp", 0), ntg = int_list(a.ntg, "-ntg", 0), npl = int_list(a.npl, "-npl", 1);
    const int threads = a.threads > 0 ? a.threads : physical_cores();
    const size_t pass = static_cast<size_t>(std::min(a.n_batch, a.n_ubatch));
    const DType kv_type = cache_type(a.cache_type);
    nlohmann::json rows = nlohmann::json::array();
    for (const std::string& path : a.models) {
        const auto model = open_model({path, "", a.load});
        spdlog::info("{}: n_kv_max = {}, n_batch = {}, n_ubatch = {}, is_pp_shared = {}, n_threads = {}", path, a.n_kv_max,
                     a.n_batch, a.n_ubatch, a.shared_prompt ? 1 : 0, threads);
        if (a.output == "md") {
            std::printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |\n", "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s",
                        "T_TG s", "S_TG t/s", "T s", "S t/s");
            std::printf("|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|\n");
        }
        for (int pp : npp)
            for (int tg : ntg)
                for (int pl : npl) {
                    const BatchedBenchTest test{static_cast<size_t>(pp), static_cast<size_t>(tg), static_cast<size_t>(pl),
                                                a.shared_prompt};
                    if (pp + tg == 0) continue;
                    if (a.n_kv_max > 0 && test.n_kv() > static_cast<size_t>(a.n_kv_max)) {
                        spdlog::warn("PP {} TG {} B {} needs {} KV positions, more than -c {}: skipped", pp, tg, pl, test.n_kv(),
                                     a.n_kv_max);
                        continue;
                    }
                    const BatchedBenchResult r = run_batched_bench(*model, test, pass, threads, kv_type);
                    const double pp_tokens = static_cast<double>(a.shared_prompt ? pp : pl * pp);
                    const double s_pp = r.t_pp > 0 ? pp_tokens / r.t_pp : 0.0, s_tg = r.t_tg > 0 ? double(pl) * tg / r.t_tg : 0.0;
                    const double t = r.t_pp + r.t_tg, s = static_cast<double>(test.n_kv()) / t;
                    if (a.output == "md") {
                        std::printf("|%6d | %6d | %4d | %6zu | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |\n", pp, tg, pl,
                                    test.n_kv(), r.t_pp, s_pp, r.t_tg, s_tg, t, s);
                        std::fflush(stdout);
                    }
                    rows.push_back({{"model_filename", path}, {"n_kv_max", a.n_kv_max}, {"n_batch", a.n_batch},
                                    {"n_ubatch", a.n_ubatch}, {"flash_attn", 0}, {"is_pp_shared", a.shared_prompt ? 1 : 0},
                                    {"n_gpu_layers", 0}, {"n_threads", threads}, {"n_threads_batch", threads},
                                    {"isa", isa_name(model->isa())}, {"pp", pp}, {"tg", tg}, {"pl", pl}, {"n_kv", test.n_kv()},
                                    {"t_pp", r.t_pp}, {"speed_pp", s_pp}, {"t_tg", r.t_tg}, {"speed_tg", s_tg}, {"t", t},
                                    {"speed", s}});
                    if (a.output == "jsonl") std::printf("%s\n", rows.back().dump().c_str());
                }
    }
    if (a.output == "json") std::printf("%s\n", rows.dump(2).c_str());
    return 0;
}

}  // namespace kiln::cli
