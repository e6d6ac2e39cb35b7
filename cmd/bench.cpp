// kiln bench: prompt processing and generation speed, line for line like llama-bench.
#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/bench.h"
#include "engine/error.h"
#include "engine/machine.h"

namespace kiln::cli {

namespace {

struct BenchArgs {
    std::vector<std::string> models;
    std::vector<int> prompts = {512}, gens = {128}, threads, depths = {0};
    std::vector<std::string> pg;
    int reps = 5;
    std::string output = "md";
    bool membw = false;
    std::string cache_type = "f16";
    FileLoad load = FileLoad::automatic;
};

// llama.cpp's names for general.file_type, as llama-bench prints them.
std::string file_type_name(const GgufFile& g) {
    static const std::pair<uint64_t, const char*> names[] = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"}, {10, "Q2_K - Medium"},
        {11, "Q3_K - Small"}, {12, "Q3_K - Medium"}, {13, "Q3_K - Large"}, {14, "Q4_K - Small"}, {15, "Q4_K - Medium"},
        {16, "Q5_K - Small"}, {17, "Q5_K - Medium"}, {18, "Q6_K"}, {25, "IQ4_NL - 4.5 bpw"},
        {30, "IQ4_XS - 4.25 bpw"}, {32, "BF16"}};
    const auto ft = g.get_uint("general.file_type");
    if (!ft) {  // not recorded: name the embedding's type
        const GgufTensor* t = g.find_tensor("token_embd.weight");
        std::string name = t ? type_info(static_cast<uint32_t>(t->type))->name : "unknown type";
        for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return name;
    }
    for (const auto& [id, name] : names)
        if (id == *ft) return name;
    return "file type " + std::to_string(*ft);
}

// A count with a K/M/B suffix: "1.10 B" for tables, "1B" for model types.
std::string scaled(size_t n, bool short_form) {
    const double v = static_cast<double>(n);
    const auto [div, unit] = n >= 1000000000 ? std::pair{1e9, "B"} : n >= 1000000 ? std::pair{1e6, "M"} : std::pair{1e3, "K"};
    char buf[32];
    std::snprintf(buf, sizeof buf, short_form ? "%.0f%s" : "%.2f %s", v / div, unit);
    return buf;
}

std::vector<BenchTest> tests_of(const BenchArgs& a) {
    std::vector<BenchTest> tests;
    for (int p : a.prompts)
        if (p > 0) tests.push_back({static_cast<size_t>(p), 0});
    for (int n : a.gens)
        if (n > 0) tests.push_back({0, static_cast<size_t>(n)});
    for (const std::string& s : a.pg) {
        const size_t comma = s.find(',');
        try {
            if (comma == std::string::npos) throw std::invalid_argument(s);
            const long p = std::stol(s.substr(0, comma)), n = std::stol(s.substr(comma + 1));
            if (p < 1 || n < 1) throw std::invalid_argument(s);
            tests.push_back({static_cast<size_t>(p), static_cast<size_t>(n)});
        } catch (const std::logic_error&) {
            throw Error("--pg '" + s + "' must be two positive numbers, pp,tg (for example 512,128)");
        }
    }
    if (tests.empty()) throw Error("nothing to measure: give -p, -n or -pg a positive size");
    std::vector<BenchTest> deep;  // each test at each depth, as llama-bench orders them
    for (const BenchTest& t : tests)
        for (int d : a.depths) deep.push_back({t.n_prompt, t.n_gen, static_cast<size_t>(d)});
    return deep;
}

int run_bench_command(const BenchArgs& a) {
    if (a.reps < 1) throw Error("-r/--repetitions must be at least 1");
    if (a.output != "md" && a.output != "csv" && a.output != "json" && a.output != "jsonl")
        throw Error("-o/--output must be md, csv, json or jsonl");
    for (int p : a.prompts)
        if (p < 0) throw Error("-p/--n-prompt sizes must be 0 or more");
    for (int n : a.gens)
        if (n < 0) throw Error("-n/--n-gen sizes must be 0 or more");
    for (int d : a.depths)
        if (d < 0) throw Error("-d/--n-depth sizes must be 0 or more");
    std::vector<int> threads = a.threads.empty() ? std::vector<int>{physical_cores()} : a.threads;
    for (int t : threads)
        if (t < 1) throw Error("-t/--threads must be at least 1");
    const std::vector<BenchTest> tests = tests_of(a);
    const DType kv_type = cache_type(a.cache_type);

    std::map<int, double> membw;
    if (a.membw)
        for (int t : threads) {
            membw[t] = read_bandwidth_gbs(size_t{1} << 30, t, 5);
            spdlog::info("read bandwidth probe, {} threads: {:.1f} GB/s", t, membw[t]);
        }

    nlohmann::json rows = nlohmann::json::array();
    for (const std::string& path : a.models) {
        const auto model = open_model({path, "", a.load});
        const size_t params = model_params(*model);
        // Mixture-of-Experts models as llama.cpp names them ("8x…"); their tg bandwidth counts
        // the weights a token reads: the router and the experts it uses.
        const ModelConfig& c = model->config();
        const std::string experts = c.n_expert > 0 ? std::to_string(c.n_expert) + "x" + std::to_string(c.n_expert_used) + " MoE " : "";
        const std::string type = std::string(c.arch->name) + " " + experts + scaled(params, true) + " " + file_type_name(model->gguf());
        for (int t : threads) {
            for (const BenchTest& test : tests) {
                SessionOptions so;
                so.n_ctx = test.n_depth + test.n_prompt + test.n_gen;
                so.n_threads = t;
                so.cache_type = kv_type;
                Session session(*model, so);
                spdlog::info("{}: {} on {} threads", path, test.name(), t);
                const BenchResult r = run_bench(session, test, a.reps);
                nlohmann::json row = {
                    {"model_filename", path},       {"model_type", type},
                    {"model_size", model->weight_bytes()}, {"model_n_params", params},
                    {"n_threads", t},               {"n_prompt", test.n_prompt},
                    {"n_gen", test.n_gen},          {"n_depth", test.n_depth},
                    {"test", test.name()},
                    {"avg_ts", r.avg_ts},           {"stddev_ts", r.stddev_ts},
                    {"samples_ts", r.samples_ts},   {"isa", isa_name(model->isa())},
                    {"use_mmap", !model->gguf().copied()},
                    {"type_k", a.cache_type},       {"type_v", a.cache_type},
                };
                if (test.n_prompt == 0) {
                    const double gbs = r.avg_ts * static_cast<double>(model->bytes_per_token()) / 1e9;
                    row["weights_gbs"] = gbs;
                    row["bytes_per_token"] = model->bytes_per_token();
                    if (a.membw) {
                        row["membw_gbs"] = membw[t];
                        row["roofline_fraction"] = gbs / membw[t];
                    }
                }
                rows.push_back(std::move(row));
            }
        }
    }

    auto dump = [](const nlohmann::json& j, int indent) {
        return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    if (a.output == "json") {
        std::printf("%s\n", dump(rows, 2).c_str());
    } else if (a.output == "jsonl") {
        for (const auto& row : rows) std::printf("%s\n", dump(row, -1).c_str());
    } else if (a.output == "csv") {
        std::printf("model_filename,model_type,model_size,model_n_params,n_threads,n_prompt,n_gen,avg_ts,stddev_ts,isa,weights_gbs,"
                    "n_depth\n");
        for (const auto& r : rows)
            std::printf("\"%s\",\"%s\",%zu,%zu,%d,%zu,%zu,%.6f,%.6f,%s,%s,%zu\n", r["model_filename"].get<std::string>().c_str(),
                        r["model_type"].get<std::string>().c_str(), r["model_size"].get<size_t>(),
                        r["model_n_params"].get<size_t>(), r["n_threads"].get<int>(), r["n_prompt"].get<size_t>(),
                        r["n_gen"].get<size_t>(), r["avg_ts"].get<double>(), r["stddev_ts"].get<double>(),
                        r["isa"].get<std::string>().c_str(),
                        r.contains("weights_gbs") ? std::to_string(r["weights_gbs"].get<double>()).c_str() : "",
                        r["n_depth"].get<size_t>());
    } else {
        std::printf("| %-30s | %10s | %10s | %-7s | %-6s | %7s | %13s | %20s | %14s |\n", "model", "size", "params", "backend",
                    "isa", "threads", "test", "t/s", a.membw ? "GB/s (roofline)" : "GB/s");
        std::printf("| ------------------------------ | ---------: | ---------: | ------- | ------ | ------: | ------------: | -------------------: | -------------: |\n");
        for (const auto& r : rows) {
            char ts[64], gbs[64] = "";
            std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r["avg_ts"].get<double>(), r["stddev_ts"].get<double>());
            if (r.contains("roofline_fraction"))
                std::snprintf(gbs, sizeof gbs, "%.1f (%.0f%%)", r["weights_gbs"].get<double>(), 100 * r["roofline_fraction"].get<double>());
            else if (r.contains("weights_gbs"))
                std::snprintf(gbs, sizeof gbs, "%.1f", r["weights_gbs"].get<double>());
            std::printf("| %-30s | %10s | %10s | %-7s | %-6s | %7d | %13s | %20s | %14s |\n", r["model_type"].get<std::string>().c_str(),
                        format_bytes(r["model_size"].get<size_t>()).c_str(), scaled(r["model_n_params"].get<size_t>(), false).c_str(),
                        "CPU", r["isa"].get<std::string>().c_str(), r["n_threads"].get<int>(), r["test"].get<std::string>().c_str(),
                        ts, gbs);
        }
    }
    return 0;
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
    auto a = std::make_shared<BenchArgs>();
    CLI::App* app = parent.add_subcommand("bench", "Measure prompt processing and generation speed, as llama-bench does");
    app->add_option("-m,--model", a->models, "GGUF model (repeatable)")->required();
    app->add_option("-p,--n-prompt", a->prompts, "Prompt sizes, comma-separated (pp tests)")->delimiter(',')->capture_default_str();
    app->add_option("-n,--n-gen", a->gens, "Generation lengths, comma-separated (tg tests)")->delimiter(',')->capture_default_str();
    app->add_option("-d,--n-depth", a->depths, "Tokens already in the KV cache before each test, comma-separated (not timed)")
        ->delimiter(',')
        ->capture_default_str();
    app->add_option("--pg,-g", a->pg, "pp,tg: a prompt then generation, timed together (repeatable)");
    app->add_option("-t,--threads", a->threads, "Thread counts, comma-separated (default: physical cores)")->delimiter(',');
    app->add_option("-r,--repetitions", a->reps, "Repetitions of each test")->capture_default_str();
    app->add_option("-o,--output", a->output, "md, csv, json or jsonl")->capture_default_str();
    app->add_flag("--membw", a->membw, "Also run the read-bandwidth probe and give tg as a fraction of its roofline");
    add_cache_type_option(*app, a->cache_type);
    add_load_options(*app, a->load);
    return {app, [a] { return run_bench_command(*a); }};
}

}  // namespace kiln::cli
