// kiln bench: prompt processing and generation speed, line for line like llama-bench.
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "build_info.h"
#include "cmd/bench.h"
#include "cmd/commands.h"
#include "cmd/options.h"
#include "engine/bench.h"
#include "engine/error.h"
#include "engine/machine.h"

namespace kiln::cli {

namespace {

struct BenchArgs {
    std::vector<std::string> models;
    std::vector<std::string> prompts = {"512"}, gens = {"128"}, threads, depths = {"0"}, batches = {"2048"}, ubatches = {"512"};
    std::vector<std::string> pg;
    int reps = 5;
    std::string output = "md";
    bool membw = false, progress = false, no_warmup = false;
    double delay = 0.0;
    std::string cache_type = "f16";
    FileLoad load = FileLoad::automatic;
    bool batched = false;
    BatchedBenchArgs batched_args;
};

// The fields of a result row, in llama-bench's order (then kiln's own), and how csv and sql
// write them: text, integer or real; a list of numbers goes out as text, space-separated.
enum class Kind { text, integer, real };
constexpr std::pair<const char*, Kind> kFields[] = {
    {"build_commit", Kind::text},   {"build_number", Kind::integer}, {"cpu_info", Kind::text},
    {"backends", Kind::text},       {"model_filename", Kind::text},  {"model_type", Kind::text},
    {"model_size", Kind::integer},  {"model_n_params", Kind::integer}, {"n_batch", Kind::integer},
    {"n_ubatch", Kind::integer},    {"n_threads", Kind::integer},    {"type_k", Kind::text},
    {"type_v", Kind::text},         {"use_mmap", Kind::integer},     {"n_prompt", Kind::integer},
    {"n_gen", Kind::integer},       {"n_depth", Kind::integer},      {"test_time", Kind::text},
    {"avg_ns", Kind::integer},      {"stddev_ns", Kind::integer},    {"avg_ts", Kind::real},
    {"stddev_ts", Kind::real},      {"samples_ns", Kind::text},      {"samples_ts", Kind::text},
    {"isa", Kind::text},            {"test", Kind::text},            {"weights_gbs", Kind::real},
};

std::string field_text(const nlohmann::json& v) {
    if (v.is_null()) return "";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (const auto& x : v) {
            char buf[32];
            std::snprintf(buf, sizeof buf, x.is_number_integer() ? "%.0f" : "%.6f", x.get<double>());
            out += (out.empty() ? "" : " ") + std::string(buf);
        }
        return out;
    }
    if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
    if (v.is_number_float()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6f", v.get<double>());
        return buf;
    }
    return v.dump();
}

// s with every `quote` doubled, between two of them (csv's and sql's escaping).
std::string quoted(const std::string& s, char quote) {
    std::string out(1, quote);
    for (char c : s) out += c == quote ? std::string(2, quote) : std::string(1, c);
    return out + quote;
}

void print_csv(const nlohmann::json& rows) {
    std::string line;
    for (const auto& [name, kind] : kFields) line += (line.empty() ? "" : ",") + std::string(name);
    std::printf("%s\n", line.c_str());
    for (const auto& r : rows) {
        line.clear();
        for (size_t i = 0; const auto& [name, kind] : kFields) {
            const std::string v = field_text(r.value(name, nlohmann::json()));
            line += (i++ ? "," : "") + (kind == Kind::text ? quoted(v, '"') : v);
        }
        std::printf("%s\n", line.c_str());
    }
}

// As llama-bench's -o sql: a CREATE TABLE for the fields, then one INSERT per row (sqlite3 reads it).
void print_sql(const nlohmann::json& rows) {
    std::printf("CREATE TABLE IF NOT EXISTS test (\n");
    for (size_t i = 0; const auto& [name, kind] : kFields)
        std::printf("  %s %s%s\n", name, kind == Kind::text ? "TEXT" : kind == Kind::integer ? "INTEGER" : "REAL",
                    ++i < std::size(kFields) ? "," : "");
    std::printf(");\n");
    std::string names;
    for (const auto& [name, kind] : kFields) names += (names.empty() ? "" : ", ") + std::string(name);
    for (const auto& r : rows) {
        std::string values;
        for (const auto& [name, kind] : kFields) {
            const nlohmann::json v = r.value(name, nlohmann::json());
            const std::string t = field_text(v);
            values += (values.empty() ? "" : ", ") + (v.is_null() ? "NULL" : kind == Kind::text ? quoted(t, '\'') : t);
        }
        std::printf("INSERT INTO test (%s) VALUES (%s);\n", names.c_str(), values.c_str());
    }
}

// Now in UTC, as llama-bench's test_time: 2026-12-01T18:20:00Z.
std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// llama.cpp's names for general.file_type, as llama-bench prints them.
std::string file_type_name(const GgufFile& g) {
    static const std::pair<uint64_t, const char*> names[] = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"}, {10, "Q2_K - Medium"},
        {11, "Q3_K - Small"}, {12, "Q3_K - Medium"}, {13, "Q3_K - Large"}, {14, "Q4_K - Small"}, {15, "Q4_K - Medium"},
        {16, "Q5_K - Small"}, {17, "Q5_K - Medium"}, {18, "Q6_K"}, {19, "IQ2_XXS - 2.0625 bpw"},
        {20, "IQ2_XS - 2.3125 bpw"}, {21, "Q2_K - Small"}, {22, "IQ3_XS - 3.3 bpw"}, {23, "IQ3_XXS - 3.0625 bpw"},
        {24, "IQ1_S - 1.5625 bpw"}, {25, "IQ4_NL - 4.5 bpw"}, {26, "IQ3_S - 3.4375 bpw"}, {27, "IQ3_S mix - 3.66 bpw"},
        {28, "IQ2_S - 2.5 bpw"}, {29, "IQ2_M - 2.7 bpw"}, {30, "IQ4_XS - 4.25 bpw"}, {31, "IQ1_M - 1.75 bpw"}, {32, "BF16"}};
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
    for (int p : int_list(a.prompts, "-p/--n-prompt", 0))
        if (p > 0) tests.push_back({static_cast<size_t>(p), 0});
    for (int n : int_list(a.gens, "-n/--n-gen", 0))
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
    const std::vector<int> depths = int_list(a.depths, "-d/--n-depth", 0);
    for (const BenchTest& t : tests)
        for (int d : depths) deep.push_back({t.n_prompt, t.n_gen, static_cast<size_t>(d)});
    return deep;
}

}  // namespace

std::vector<int> int_list(const std::vector<std::string>& items, const std::string& flag, int min) {
    std::vector<int> out;
    for (const std::string& item : items) {
        const auto fail = [&] {
            return Error(flag + " '" + item + "' must be numbers of at least " + std::to_string(min) +
                         ": N, FIRST-LAST, FIRST-LAST+STEP or FIRST-LAST*FACTOR, comma-separated");
        };
        // A range's dash follows a digit; a leading one is a sign.
        const size_t dash = item.find('-', 1);
        try {
            size_t used = 0;
            const long first = std::stol(item, &used);
            if (dash == std::string::npos) {
                if (used != item.size() || first < min || first > INT32_MAX) throw fail();
                out.push_back(static_cast<int>(first));
                continue;
            }
            if (used != dash) throw fail();
            const std::string rest = item.substr(dash + 1);
            const long last = std::stol(rest, &used);
            long step = 1;
            char op = '+';
            if (used < rest.size()) {
                op = rest[used];
                if (op != '+' && op != '*') throw fail();
                size_t n = 0;
                step = std::stol(rest.substr(used + 1), &n);
                if (used + 1 + n != rest.size()) throw fail();
            }
            if (first < min || last < first || last > INT32_MAX || step < (op == '*' ? 2 : 1) || (op == '*' && first < 1)) throw fail();
            for (long v = first; v <= last; v = op == '+' ? v + step : v * step) out.push_back(static_cast<int>(v));
        } catch (const std::logic_error&) {
            throw fail();
        }
    }
    return out;
}

namespace {

int run_bench_command(const BenchArgs& a) {
    if (a.batched) {
        BatchedBenchArgs b = a.batched_args;
        b.models = a.models;
        b.output = a.output;
        b.cache_type = a.cache_type;
        b.load = a.load;
        const std::vector<int> t = a.threads.empty() ? std::vector<int>{} : int_list(a.threads, "-t/--threads", 1);
        if (t.size() > 1) throw Error("-t/--threads takes one count with --batched");
        b.threads = t.empty() ? 0 : t[0];
        const std::vector<int> nb = int_list(a.batches, "-b/--batch-size", 1), nub = int_list(a.ubatches, "-ub/--ubatch-size", 1);
        if (nb.size() > 1 || nub.size() > 1) throw Error("-b and -ub take one size each with --batched");
        b.n_batch = nb[0], b.n_ubatch = nub[0];
        return run_batched_bench_command(b);
    }
    if (a.reps < 1) throw Error("-r/--repetitions must be at least 1");
    if (a.output != "md" && a.output != "csv" && a.output != "json" && a.output != "jsonl" && a.output != "sql")
        throw Error("-o/--output must be md, csv, json, jsonl or sql");
    if (!(a.delay >= 0) || a.delay > 3600) throw Error("--delay must be 0 to 3600 seconds");
    const std::vector<int> threads = a.threads.empty() ? std::vector<int>{physical_cores()} : int_list(a.threads, "-t/--threads", 1);
    const std::vector<int> batches = int_list(a.batches, "-b/--batch-size", 1), ubatches = int_list(a.ubatches, "-ub/--ubatch-size", 1);
    const std::vector<BenchTest> tests = tests_of(a);
    const DType kv_type = cache_type(a.cache_type);

    std::map<int, double> membw;
    if (a.membw)
        for (int t : threads) {
            membw[t] = read_bandwidth_gbs(size_t{1} << 30, t, 5);
            spdlog::info("read bandwidth probe, {} threads: {:.1f} GB/s", t, membw[t]);
        }

    const size_t n_runs = a.models.size() * threads.size() * batches.size() * ubatches.size() * tests.size();
    size_t run = 0;
    const std::string cpu = cpu_brand();
    nlohmann::json rows = nlohmann::json::array();
    for (const std::string& path : a.models) {
        const auto model = open_model({path, "", a.load});
        const size_t params = model_params(*model);
        // Mixture-of-Experts models as llama.cpp names them ("8x…"); their tg bandwidth counts
        // the weights a token reads: the router and the experts it uses.
        const ModelConfig& c = model->config();
        const std::string experts = c.n_expert > 0 ? std::to_string(c.n_expert) + "x" + std::to_string(c.n_expert_used) + " MoE " : "";
        const std::string type = std::string(c.arch->name) + " " + experts + scaled(params, true) + " " + file_type_name(model->gguf());
        for (int t : threads)
            for (int nb : batches)
                for (int nub_given : ubatches)
                    for (const BenchTest& test : tests) {
                        const int nub = std::min(nb, nub_given);  // as llama.cpp: a pass is never longer than a batch
                        ++run;
                        if (a.delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(a.delay));
                        SessionOptions so;
                        so.n_ctx = test.n_depth + test.n_prompt + test.n_gen;
                        so.n_threads = t;
                        so.cache_type = kv_type;
                        so.n_batch = static_cast<size_t>(nub);
                        Session session(*model, so);
                        spdlog::info("{}: {} on {} threads", path, test.name(), t);
                        BenchOptions bo;
                        bo.reps = a.reps;
                        bo.n_batch = static_cast<size_t>(nb);
                        bo.warmup = !a.no_warmup;
                        const std::string started = utc_now();
                        const BenchResult r = run_bench(session, test, bo, [&](int rep) {
                            if (a.progress)
                                std::fprintf(stderr, "kiln bench: test %zu/%zu: %s, repetition %d/%d\n", run, n_runs,
                                             test.name().c_str(), rep + 1, a.reps);
                        });
                        nlohmann::json row = {
                            {"build_commit", KILN_BUILD_COMMIT}, {"build_number", KILN_BUILD_NUMBER},
                            {"cpu_info", cpu},              {"backends", "CPU"},
                            {"model_filename", path},       {"model_type", type},
                            {"model_size", model->weight_bytes()}, {"model_n_params", params},
                            {"n_batch", nb},                {"n_ubatch", nub},
                            {"n_threads", t},               {"type_k", a.cache_type},
                            {"type_v", a.cache_type},       {"use_mmap", !model->gguf().copied()},
                            {"n_prompt", test.n_prompt},    {"n_gen", test.n_gen},
                            {"n_depth", test.n_depth},      {"test_time", started},
                            {"avg_ns", static_cast<uint64_t>(r.avg_ns)}, {"stddev_ns", static_cast<uint64_t>(r.stddev_ns)},
                            {"avg_ts", r.avg_ts},           {"stddev_ts", r.stddev_ts},
                            {"samples_ts", r.samples_ts},   {"isa", isa_name(model->isa())},
                            {"test", test.name()},
                        };
                        row["samples_ns"] = nlohmann::json::array();
                        for (double ns : r.samples_ns) row["samples_ns"].push_back(static_cast<uint64_t>(ns));
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

    auto dump = [](const nlohmann::json& j, int indent) {
        return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    if (a.output == "json") {
        std::printf("%s\n", dump(rows, 2).c_str());
    } else if (a.output == "jsonl") {
        for (const auto& row : rows) std::printf("%s\n", dump(row, -1).c_str());
    } else if (a.output == "csv") {
        print_csv(rows);
    } else if (a.output == "sql") {
        print_sql(rows);
    } else {
        // n_batch and n_ubatch get columns when they were set, as llama-bench shows fields that differ from its defaults.
        const bool sizes = a.batches != std::vector<std::string>{"2048"} || a.ubatches != std::vector<std::string>{"512"};
        std::printf("| %-30s | %10s | %10s | %-7s | %-6s | %7s |%s %13s | %20s | %14s |\n", "model", "size", "params", "backend",
                    "isa", "threads", sizes ? " n_batch | n_ubatch |" : "", "test", "t/s", a.membw ? "GB/s (roofline)" : "GB/s");
        std::printf("| ------------------------------ | ---------: | ---------: | ------- | ------ | ------: |%s ------------: | "
                    "-------------------: | -------------: |\n",
                    sizes ? " ------: | -------: |" : "");
        for (const auto& r : rows) {
            char ts[64], gbs[64] = "", sz[64] = "";
            std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r["avg_ts"].get<double>(), r["stddev_ts"].get<double>());
            if (r.contains("roofline_fraction"))
                std::snprintf(gbs, sizeof gbs, "%.1f (%.0f%%)", r["weights_gbs"].get<double>(), 100 * r["roofline_fraction"].get<double>());
            else if (r.contains("weights_gbs"))
                std::snprintf(gbs, sizeof gbs, "%.1f", r["weights_gbs"].get<double>());
            if (sizes) std::snprintf(sz, sizeof sz, " %7d | %8d |", r["n_batch"].get<int>(), r["n_ubatch"].get<int>());
            std::printf("| %-30s | %10s | %10s | %-7s | %-6s | %7d |%s %13s | %20s | %14s |\n", r["model_type"].get<std::string>().c_str(),
                        format_bytes(r["model_size"].get<size_t>()).c_str(), scaled(r["model_n_params"].get<size_t>(), false).c_str(),
                        "CPU", r["isa"].get<std::string>().c_str(), r["n_threads"].get<int>(), sz, r["test"].get<std::string>().c_str(),
                        ts, gbs);
        }
    }
    return 0;
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
    auto a = std::make_shared<BenchArgs>();
    CLI::App* app = parent.add_subcommand("bench", "Measure prompt processing and generation speed, as llama-bench does "
                                                   "(--batched: as llama-batched-bench does)");
    app->add_option("-m,--model", a->models, "GGUF model (repeatable)")->required();
    const char* list = "comma-separated; N, FIRST-LAST, FIRST-LAST+STEP or FIRST-LAST*FACTOR";
    app->add_option("-p,--n-prompt", a->prompts, std::string("Prompt sizes (pp tests), ") + list)->delimiter(',')->capture_default_str();
    app->add_option("-n,--n-gen", a->gens, std::string("Generation lengths (tg tests), ") + list)->delimiter(',')->capture_default_str();
    app->add_option("-d,--n-depth", a->depths, std::string("Tokens already in the KV cache before each test (not timed), ") + list)
        ->delimiter(',')
        ->capture_default_str();
    app->add_option("--pg,-g", a->pg, "pp,tg: a prompt then generation, timed together (repeatable)");
    app->add_option("-t,--threads", a->threads, std::string("Thread counts (default: physical cores), ") + list)->delimiter(',');
    app->add_option("-b,--batch-size", a->batches, std::string("Prompt tokens per eval call, ") + list)->delimiter(',')->capture_default_str();
    app->add_option("--ubatch-size", a->ubatches, std::string("Tokens per forward pass (-ub), ") + list)->delimiter(',')->capture_default_str();
    app->add_option("-r,--repetitions", a->reps, "Repetitions of each test")->capture_default_str();
    app->add_option("-o,--output", a->output, "md, csv, json, jsonl or sql (--batched: md, json or jsonl)")->capture_default_str();
    app->add_flag("--membw", a->membw, "Also run the read-bandwidth probe and give tg as a fraction of its roofline");
    app->add_flag("--progress", a->progress, "A line on stderr as each repetition starts");
    app->add_flag("--no-warmup", a->no_warmup, "Skip the untimed run before each test's repetitions");
    app->add_option("--delay", a->delay, "Seconds to wait before each test (to let the machine cool)")->capture_default_str();
    app->add_flag("--batched", a->batched, "llama-batched-bench's test: -npp, -ntg, -npl, -pps");
    app->add_option("--npp", a->batched_args.npp, std::string("--batched: prompt sizes (-npp), ") + list)->delimiter(',')->capture_default_str();
    app->add_option("--ntg", a->batched_args.ntg, std::string("--batched: generation lengths (-ntg), ") + list)->delimiter(',')->capture_default_str();
    app->add_option("--npl", a->batched_args.npl, std::string("--batched: sequence counts (-npl), ") + list)->delimiter(',')->capture_default_str();
    app->add_flag("--pps", a->batched_args.shared_prompt, "--batched: the sequences share one prompt, computed once (-pps)");
    app->add_option("-c,--ctx-size", a->batched_args.n_kv_max, "--batched: skip tests needing more KV positions (0: no limit)")
        ->capture_default_str();
    add_cache_type_option(*app, a->cache_type);
    add_load_options(*app, a->load);
    return {app, [a] { return run_bench_command(*a); }};
}

}  // namespace kiln::cli
