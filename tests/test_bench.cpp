// kiln bench's outputs and flags (no timing is asserted: only that the figures are there).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "helpers.h"

using namespace kiln::test;

TEST_CASE("kiln bench reports llama-bench's fields in every format", "[bench]") {
    const std::string m = model_path("stories260K.gguf");
    const Result json = run_kiln({"bench", "-m", m, "-p", "16", "-n", "8", "--pg", "8,4", "-r", "2", "-t", "1,2", "-o", "json"});
    INFO(json.err);
    REQUIRE(json.status == 0);
    const auto rows = nlohmann::json::parse(json.out);
    REQUIRE(rows.size() == 6);  // (pp16, tg8, pp8+tg4) x 2 thread counts
    for (const auto& r : rows) {
        for (const char* field : {"model_filename", "model_type", "model_size", "model_n_params", "n_threads", "n_prompt",
                                  "n_gen", "avg_ts", "stddev_ts", "samples_ts", "isa"})
            CHECK(r.contains(field));
        CHECK(r["samples_ts"].size() == 2);
        CHECK(r["avg_ts"].get<double>() > 0.0);
        CHECK(r.contains("weights_gbs") == (r["n_prompt"] == 0));
    }
    CHECK(rows[0]["model_type"] == "llama 293K F32");
    CHECK(rows[2]["test"] == "pp8+tg4");

    const Result md = run_kiln({"bench", "-m", m, "-p", "16", "-n", "8", "-r", "1"});
    CHECK(md.out.find("| model") == 0);
    CHECK(md.out.find("|          pp16 |") != std::string::npos);
    CHECK(md.out.find("|           tg8 |") != std::string::npos);
    const Result jsonl = run_kiln({"bench", "-m", m, "-p", "16", "-n", "0", "-r", "1", "-o", "jsonl"});
    CHECK(std::count(jsonl.out.begin(), jsonl.out.end(), '\n') == 1);
    CHECK(nlohmann::json::parse(jsonl.out)["n_prompt"] == 16);
    const Result csv = run_kiln({"bench", "-m", m, "-p", "16", "-n", "0", "-r", "1", "-o", "csv"});
    CHECK(csv.out.rfind("build_commit,build_number,cpu_info,backends,model_filename,model_type,", 0) == 0);
    CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 2);
}

TEST_CASE("kiln bench has llama-bench's fields, ranges, batch sizes and sql", "[bench]") {
    const std::string m = model_path("stories260K.gguf");
    const Result json = run_kiln({"bench", "-m", m, "-p", "8-32*2", "-n", "4-8+4", "-r", "2", "-t", "1", "-b", "16",
                                  "-ub", "32", "--no-warmup", "--delay", "0.01", "--progress", "-o", "json"});
    INFO(json.err);
    REQUIRE(json.status == 0);
    const auto rows = nlohmann::json::parse(json.out);
    REQUIRE(rows.size() == 5);  // pp8, pp16, pp32, tg4, tg8
    const char* const names[] = {"pp8", "pp16", "pp32", "tg4", "tg8"};
    for (size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        CHECK(r["test"] == names[i]);
        for (const char* field : {"build_commit", "build_number", "cpu_info", "backends", "n_batch", "n_ubatch", "test_time",
                                  "avg_ns", "stddev_ns", "samples_ns", "n_depth"})
            CHECK(r.contains(field));
        CHECK(r["n_batch"] == 16);
        CHECK(r["n_ubatch"] == 16);  // a pass is never longer than a batch
        CHECK(r["backends"] == "CPU");
        CHECK(r["samples_ns"].size() == 2);
        CHECK(r["avg_ns"].get<double>() > 0);
        CHECK(r["test_time"].get<std::string>().size() == 20);  // 2026-12-01T18:20:00Z
    }
    // --progress: a line per repetition on stderr.
    CHECK(json.err.find("test 5/5: tg8, repetition 2/2") != std::string::npos);

    // csv: a header and one line per test, as many fields each (quoted text may hold commas).
    const Result csv = run_kiln({"bench", "-m", m, "-p", "8", "-n", "4", "-r", "1", "-o", "csv"});
    REQUIRE(csv.status == 0);
    std::istringstream lines(csv.out);
    std::string header, line;
    std::getline(lines, header);
    const auto fields = [](const std::string& l) {
        size_t n = 1;
        bool in_quotes = false;
        for (char c : l) {
            if (c == '"') in_quotes = !in_quotes;
            if (c == ',' && !in_quotes) ++n;
        }
        return n;
    };
    size_t n_lines = 0;
    while (std::getline(lines, line)) {
        CHECK(fields(line) == fields(header));
        ++n_lines;
    }
    CHECK(n_lines == 2);

    // sql: sqlite3 loads it into a table of the rows, when Debian's sqlite3 is installed.
    const Result sql = run_kiln({"bench", "-m", m, "-p", "8", "-n", "4", "-d", "0,8", "-r", "1", "-o", "sql"});
    REQUIRE(sql.status == 0);
    CHECK(sql.out.rfind("CREATE TABLE IF NOT EXISTS test (", 0) == 0);
    CHECK(std::count(sql.out.begin(), sql.out.end(), '\n') > 4);
    if (run_program("sh", {"-c", "command -v sqlite3"}).status == 0) {
        const std::string db = temp_dir() + "/bench.db", script = temp_dir() + "/bench.sql";
        write_file(script, sql.out);
        const Result load = run_program("sh", {"-c", "sqlite3 " + db + " < " + script + " && sqlite3 " + db +
                                                         " 'SELECT count(*), sum(n_depth), min(avg_ns > 0) FROM test'"});
        INFO(load.err);
        CHECK(load.status == 0);
        CHECK(load.out == "4|16|1\n");
    } else {
        WARN("sqlite3 is not installed: the sql output was not loaded");
    }
}

TEST_CASE("kiln bench --batched measures as llama-batched-bench does", "[bench]") {
    const std::string m = model_path("stories260K.gguf");
    const Result md = run_kiln({"bench", "--batched", "-m", m, "-npp", "16", "-ntg", "8", "-npl", "1,2,4", "-t", "1"});
    INFO(md.err);
    REQUIRE(md.status == 0);
    CHECK(md.out.rfind("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |", 0) == 0);
    CHECK(std::count(md.out.begin(), md.out.end(), '\n') == 5);
    CHECK(md.out.find("|    16 |      8 |    4 |     96 |") != std::string::npos);

    const Result jsonl = run_kiln({"bench", "--batched", "-m", m, "-npp", "16", "-ntg", "8", "-npl", "1-4*2", "-pps", "-c", "40",
                                   "-o", "jsonl"});
    INFO(jsonl.err);
    REQUIRE(jsonl.status == 0);
    std::istringstream lines(jsonl.out);
    std::string line;
    std::vector<nlohmann::json> rows;
    while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
    REQUIRE(rows.size() == 2);  // pl 1, 2; pl 4 needs 16 + 4 * 8 = 48 positions, more than -c 40
    CHECK(jsonl.err.find("skipped") != std::string::npos);
    for (const auto& r : rows) {
        for (const char* field : {"pp", "tg", "pl", "n_kv", "t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed", "is_pp_shared"})
            CHECK(r.contains(field));
        CHECK(r["n_kv"] == 16 + r["pl"].get<int>() * 8);  // the shared prompt counts once
        CHECK(r["speed_tg"].get<double>() > 0);
        CHECK(r["t"].get<double>() == Approx(r["t_pp"].get<double>() + r["t_tg"].get<double>()));
    }
}

TEST_CASE("kiln bench -d runs each test over a cache that already holds that many tokens", "[bench]") {
    const std::string m = model_path("stories260K.gguf");
    const Result r = run_kiln({"bench", "-m", m, "-p", "16", "-n", "4", "-d", "0,40", "-r", "1", "-t", "1", "-o", "json"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto rows = nlohmann::json::parse(r.out);
    REQUIRE(rows.size() == 4);  // each test at each depth, as llama-bench orders them
    const char* const names[] = {"pp16", "pp16 @ d40", "tg4", "tg4 @ d40"};
    for (size_t i = 0; i < 4; ++i) {
        CHECK(rows[i]["test"] == names[i]);
        CHECK(rows[i]["n_depth"] == (i % 2 ? 40 : 0));
        CHECK(rows[i]["avg_ts"].get<double>() > 0.0);
    }
    const Result json = run_kiln({"bench", "-m", m, "-p", "8", "-n", "0", "-d", "24", "-r", "1", "-o", "jsonl"});
    REQUIRE(json.status == 0);
    CHECK(nlohmann::json::parse(json.out)["n_depth"] == 24);
}

TEST_CASE("kiln bench refuses bad settings in one line", "[bench][bad-input]") {
    const std::string m = model_path("stories260K.gguf");
    for (const auto& args : std::vector<std::vector<std::string>>{{"-o", "xml"}, {"-r", "0"}, {"--pg", "12"}, {"-t", "0"}, {"-d", "-5"},
                                                                  {"-p", "64-16"}, {"-p", "8-64*1"}, {"-n", "4-x"}, {"--delay", "-1"},
                                                                  {"-b", "0"}}) {
        std::vector<std::string> all = {"bench", "-m", m};
        all.insert(all.end(), args.begin(), args.end());
        const Result r = run_kiln(all);
        INFO(args[0] << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.find(args[0]) != std::string::npos);
    }
}
