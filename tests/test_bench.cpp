// kiln bench's outputs and flags (no timing is asserted: only that the figures are there).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
    CHECK(csv.out.rfind("model_filename,model_type,", 0) == 0);
    CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 2);
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
    const Result csv = run_kiln({"bench", "-m", m, "-p", "8", "-n", "0", "-d", "24", "-r", "1", "-o", "csv"});
    REQUIRE(csv.status == 0);
    CHECK(csv.out.find(",n_depth\n") != std::string::npos);
    CHECK(csv.out.find(",24\n") != std::string::npos);
}

TEST_CASE("kiln bench refuses bad settings in one line", "[bench][bad-input]") {
    const std::string m = model_path("stories260K.gguf");
    for (const auto& args : std::vector<std::vector<std::string>>{{"-o", "xml"}, {"-r", "0"}, {"--pg", "12"}, {"-t", "0"}, {"-d", "-5"}}) {
        std::vector<std::string> all = {"bench", "-m", m};
        all.insert(all.end(), args.begin(), args.end());
        const Result r = run_kiln(all);
        INFO(args[0] << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.find(args[0]) != std::string::npos);
    }
}
