// kiln run's sampling flags, seeds, stop strings and JSON output, end to end on stories260K.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "helpers.h"

using namespace kiln::test;

namespace {

Result run(std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", "-m", model_path("stories260K.gguf"), "-p", "Once upon a time", "-n", "40"};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = run_kiln(args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return r;
}

}  // namespace

TEST_CASE("settings that leave one candidate give the greedy text", "[run][sampler]") {
    const std::string greedy = run({"--temp", "0"}).out;
    REQUIRE(greedy.size() > 40);
    CHECK(run({"--top-k", "1", "--seed", "1"}).out == greedy);
    CHECK(run({"--min-p", "1", "--seed", "2"}).out == greedy);
    CHECK(run({"--top-p", "0.0001", "--seed", "3"}).out == greedy);
    CHECK(run({"--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", "4"}).out != greedy);
}

TEST_CASE("a seed fixes the text for every thread count", "[run][sampler]") {
    const Result first = run({"--seed", "42"});
    CHECK(first.err.find("seed 42") != std::string::npos);
    CHECK(run({"--seed", "42"}).out == first.out);
    CHECK(run({"--seed", "42", "-t", "1"}).out == first.out);
    CHECK(run({"--seed", "42", "-t", "2"}).out == first.out);
    CHECK(run({"--seed", "43"}).out != first.out);
    // Without --seed one is chosen and printed, and repeating it repeats the text.
    const Result chosen = run({});
    const size_t at = chosen.err.find("seed ");
    REQUIRE(at != std::string::npos);
    const std::string seed = chosen.err.substr(at + 5, chosen.err.find_first_not_of("0123456789", at + 5) - at - 5);
    CHECK(run({"--seed", seed}).out == chosen.out);
}

TEST_CASE("a stop string that spans two tokens ends the text before it", "[run][sampler]") {
    // The greedy text is ", there was a little girl named Lily. She loved ..."; "Lily" is
    // the pieces "L" and "ily".
    const Result r = run({"--temp", "0", "--stop", "Lily", "--json"});
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["text"] == ", there was a little girl named ");
    CHECK(j["finish_reason"] == "stop");
    const Result streamed = run({"--temp", "0", "--stop", "Lily"});
    CHECK(streamed.out == ", there was a little girl named ");
    const Result other = run({"--temp", "0", "--stop", "zzz", "--stop", "girl"});
    CHECK(other.out == ", there was a little ");
}

TEST_CASE("JSON output carries the streamed text, tokens and logprobs", "[run][json]") {
    const Result streamed = run({"--seed", "7"});
    const Result r = run({"--seed", "7", "--json", "--logprobs", "3"});
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["text"] == streamed.out);
    CHECK(j["seed"] == 7);
    CHECK(j["prompt_tokens"] == 5);
    CHECK(j["finish_reason"] == "length");
    REQUIRE(j["tokens"].size() == 40);
    for (const auto& t : j["tokens"]) {
        CHECK(t["logprob"].get<double>() <= 0.0);
        REQUIRE(t["top_logprobs"].size() == 3);
        CHECK(t["top_logprobs"][0]["logprob"].get<double>() >= t["top_logprobs"][1]["logprob"].get<double>());
    }
    CHECK(j["timings"]["generation_tokens_per_s"].get<double>() > 0.0);

    const auto greedy = nlohmann::json::parse(run({"--temp", "0", "--json", "--logprobs", "2", "--top-k", "5"}).out);
    for (const auto& t : greedy["tokens"]) {
        CHECK(t["id"] == t["top_logprobs"][0]["id"]);
        CHECK(t["logprob"] == t["top_logprobs"][0]["logprob"]);
    }
    // Logprobs are the model's, before truncation: the same under other sampler settings.
    const auto greedy2 = nlohmann::json::parse(run({"--temp", "0", "--json", "--top-k", "1", "--min-p", "0.5"}).out);
    CHECK(greedy2["tokens"][3]["logprob"] == greedy["tokens"][3]["logprob"]);
}

TEST_CASE("colour codes only when asked for, and the text underneath is unchanged", "[run]") {
    const Result plain = run({"--temp", "0"});
    const Result piped_auto = run({"--temp", "0", "--color"});
    CHECK(piped_auto.out == plain.out);  // stdout is a file here, so auto means no colour
    const Result colored = run({"--temp", "0", "--color=always"});
    CHECK(colored.out.find("\x1b[") != std::string::npos);
    std::string stripped;
    for (size_t i = 0; i < colored.out.size();) {
        if (colored.out[i] == '\x1b') {
            i = colored.out.find('m', i) + 1;
        } else {
            stripped += colored.out[i++];
        }
    }
    CHECK(stripped == plain.out);
    CHECK(colored.err.find("p >= 0.9") != std::string::npos);
}

TEST_CASE("EOS ends generation unless --ignore-eos", "[run]") {
    const Result r = run({"--temp", "0", "-n", "400", "--json"});
    const auto j = nlohmann::json::parse(r.out);
    const Result ignoring = run({"--temp", "0", "-n", "400", "--json", "--ignore-eos"});
    const auto k = nlohmann::json::parse(ignoring.out);
    CHECK(k["finish_reason"] == "length");
    CHECK(k["tokens"].size() == 400);
    if (j["finish_reason"] == "eos") CHECK(j["tokens"].size() < 400);
}

TEST_CASE("bad sampler flags are one-line errors", "[run][bad-input]") {
    for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
             {"--top-p", "2"}, {"--temp", "-1"}, {"--min-p", "-0.5"}, {"--top-k", "-3"}, {"--color", "sometimes"}}) {
        const Result r = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", "x", flag, value});
        INFO(flag << " " << value << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err.find(flag) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
}

TEST_CASE("Ctrl-C stops generation, keeps the text and the summary, exits 130", "[run]") {
    // A context far past the 200 bytes of text it waits for, so it is still running then.
    const std::vector<std::string> args = {"run", "-m", model_path("stories260K.gguf"), "-p", "Once upon a time",
                                           "-n", "-1", "-c", "200000", "--ignore-eos", "--seed", "1"};
    const Result once = run_kiln_interrupted(args, 200, 1);
    INFO(once.err);
    CHECK(once.signal == 0);
    CHECK(once.status == 130);
    CHECK(once.out.size() > 100);
    CHECK(once.err.find("interrupted") != std::string::npos);
    CHECK(once.err.find("generated") != std::string::npos);
    const Result twice = run_kiln_interrupted(args, 200, 2);
    CHECK(twice.status == 130);
}

TEST_CASE("a prompt cache loads the prompt's rows, gives the same text, and a bad file only costs a recompute", "[run][prompt-cache]") {
    std::string prompt = "Once upon a time";
    for (int i = 0; i < 20; ++i) prompt += " there was a little dog named Max who liked to run";
    const std::string dir = temp_dir(), cache = dir + "/prompt.cache";
    const auto with_cache = [&](const std::string& p, const std::string& file, std::vector<std::string> more = {}) {
        std::vector<std::string> args = {"run", "-m", model_path("stories260K.gguf"), "-p", p, "-n", "30", "-c", "512",
                                         "--seed", "5", "--prompt-cache", file};
        args.insert(args.end(), more.begin(), more.end());
        Result r = run_kiln(args);
        INFO(r.err);
        REQUIRE(r.status == 0);
        return r;
    };
    const Result plain = run({"-p", prompt, "-n", "30", "-c", "512", "--seed", "5"});
    const Result first = with_cache(prompt, cache);
    CHECK(first.out == plain.out);
    CHECK(first.err.find("loaded") == std::string::npos);
    const std::string saved = read_file(cache);
    REQUIRE(saved.size() > 1000);

    // Again: every prompt token but the last comes from the file.
    const Result second = with_cache(prompt, cache);
    CHECK(second.out == plain.out);
    const size_t at = second.err.find("prompt cache: ");
    REQUIRE(at != std::string::npos);
    size_t loaded = 0, total = 0;
    REQUIRE(std::sscanf(second.err.c_str() + at, "prompt cache: %zu of the prompt's %zu tokens", &loaded, &total) == 2);
    CHECK(loaded + 1 == total);
    CHECK(total > 300);

    // A prompt that turns off halfway loads the part it shares.
    const std::string other = prompt.substr(0, prompt.size() / 2) + " and then a big cat came";
    write_file(cache, saved);
    const Result half = with_cache(other, cache);
    CHECK(half.out == run({"-p", other, "-n", "30", "-c", "512", "--seed", "5"}).out);
    size_t half_loaded = 0;
    REQUIRE(std::sscanf(half.err.c_str() + half.err.find("prompt cache: "), "prompt cache: %zu", &half_loaded) == 1);
    CHECK(half_loaded > 100);
    CHECK(half_loaded < loaded);

    // Files that cannot be used: the same text, a line saying why, and a new file written.
    struct Bad {
        std::string name, bytes, says;
        std::vector<std::string> flags;
    };
    const std::vector<Bad> bad = {
        {"cut", saved.substr(0, saved.size() / 2), "damaged", {}},
        {"flipped", saved.substr(0, 3000) + char(saved[3000] ^ 1) + saved.substr(3001), "damaged", {}},
        {"empty", "", "not a kiln prompt cache", {}},
        {"text", "hello, this is not a cache at all", "not a kiln prompt cache", {}},
        {"type", saved, "another KV cache type", {"--cache-type", "f32"}},
    };
    for (const Bad& b : bad) {
        INFO(b.name);
        const std::string file = dir + "/" + b.name + ".cache";
        write_file(file, b.bytes);
        const Result r = with_cache(prompt, file, b.flags);
        CHECK(r.out == plain.out);
        CHECK(r.err.find(b.says) != std::string::npos);
        CHECK(r.err.find("computing the prompt instead") != std::string::npos);
        CHECK(with_cache(prompt, file, b.flags).err.find("loaded") != std::string::npos);  // rewritten, now usable
    }
    // Another model's file.
    const std::string foreign = dir + "/foreign.cache";
    REQUIRE(run_kiln({"run", "-m", model_path("random/llama-2-tiny-random.gguf"), "-p", prompt, "-n", "2", "--prompt-cache", foreign}).status == 0);
    const Result r = with_cache(prompt, foreign);
    CHECK(r.out == plain.out);
    CHECK(r.err.find("made for another model") != std::string::npos);
    // A cache that cannot be written is a warning; the text is still printed.
    const Result unwritable = with_cache(prompt, dir);
    CHECK(unwritable.out == plain.out);
    CHECK(unwritable.err.find("cannot") != std::string::npos);
}
