// kiln batch: the same text as kiln run for every request, errors as lines, kill and resume.
#include <catch2/catch.hpp>
#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "cmd/batch_request.h"
#include "engine/error.h"
#include "helpers.h"

using namespace kiln::test;
using nlohmann::json;

namespace {

const char* const kStarts[] = {"Once upon a time", "The little dog", "Lily and Ben", "One day", "The sun was",
                               "Tom had a red", "In the park", "A big fish"};

// 40 requests, each with its own mix of overrides.
std::vector<json> mixed_requests() {
    std::vector<json> requests;
    for (int i = 0; i < 40; ++i) {
        json r = {{"prompt", kStarts[i % 8]}, {"n_predict", 10 + (i * 7) % 50}};
        if (i % 3 == 0) r["id"] = "req-" + std::to_string(i);
        switch (i % 5) {
            case 0: r["temp"] = 0; break;
            case 1: r["seed"] = 1000 + i, r["top_k"] = 10; break;
            case 2: r["top_p"] = 0.9, r["min_p"] = 0.1, r["stop"] = json::array({".", "!"}); break;
            case 3:
                r["repeat_penalty"] = 1.3, r["repeat_last_n"] = 16, r["frequency_penalty"] = 0.2;
                r["presence_penalty"] = 0.1;
                break;
            case 4: r["typical"] = 0.8, r["temp"] = 1.2, r["stop"] = "the"; break;
        }
        requests.push_back(r);
    }
    return requests;
}

std::string jsonl(const std::vector<json>& lines) {
    std::string s;
    for (const json& j : lines) s += j.dump() + "\n";
    return s;
}

std::vector<json> parse_jsonl(const std::string& text) {
    std::vector<json> out;
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        REQUIRE(end != std::string::npos);
        out.push_back(json::parse(text.substr(start, end - start)));
        start = end + 1;
    }
    return out;
}

// The kiln run flags that mean what a request's fields mean.
std::vector<std::string> run_flags(const json& r) {
    static const std::map<std::string, std::string> flag = {
        {"n_predict", "-n"}, {"temp", "--temp"}, {"top_k", "--top-k"}, {"top_p", "--top-p"}, {"min_p", "--min-p"},
        {"typical", "--typical"}, {"repeat_penalty", "--repeat-penalty"}, {"repeat_last_n", "--repeat-last-n"},
        {"frequency_penalty", "--frequency-penalty"}, {"presence_penalty", "--presence-penalty"}};
    std::vector<std::string> args;
    for (const auto& [key, value] : r.items()) {
        if (key == "stop") {
            for (const json& s : value.is_array() ? value : json::array({value})) {
                args.push_back("--stop");
                args.push_back(s.get<std::string>());
            }
        } else if (flag.count(key)) {
            args.push_back(flag.at(key));
            args.push_back(value.dump());
        }
    }
    return args;
}

std::map<std::string, json> by_id(const std::vector<json>& lines) {
    std::map<std::string, json> m;
    for (const json& j : lines) {
        INFO(j.dump());
        CHECK(m.count(j["id"].dump()) == 0);
        m[j["id"].dump()] = j;
    }
    return m;
}

std::vector<std::string> batch_args(const std::string& in, const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"batch", "-m", model_path("stories260K.gguf"), "-i", in, "-o", out, "-c", "256", "--seed", "7"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

}  // namespace

TEST_CASE("every batch result is what kiln run gives for that request", "[batch]") {
    const std::vector<json> requests = mixed_requests();
    const std::string in = temp_dir() + "/mixed.jsonl";
    write_file(in, jsonl(requests));

    const std::string out8 = temp_dir() + "/mixed8.jsonl";
    const Result r8 = run_kiln(batch_args(in, out8, {"--parallel", "8"}));
    INFO(r8.err);
    REQUIRE(r8.status == 0);
    CHECK(r8.err.find("8 in parallel") != std::string::npos);
    const auto results = by_id(parse_jsonl(read_file(out8)));
    REQUIRE(results.size() == requests.size());

    std::set<std::string> finishes;
    for (size_t i = 0; i < requests.size(); ++i) {
        const json& req = requests[i];
        const json id = req.contains("id") ? req["id"] : json(i + 1);
        REQUIRE(results.count(id.dump()) == 1);
        const json& got = results.at(id.dump());
        CHECK(got["line"] == i + 1);
        if (req.contains("seed")) CHECK(got["seed"] == req["seed"]);
        std::vector<std::string> args = {"run", "-m", model_path("stories260K.gguf"), "-p", req["prompt"], "-c", "256",
                                         "--json", "-q", "--seed", std::to_string(got["seed"].get<uint64_t>())};
        for (const std::string& a : run_flags(req)) args.push_back(a);
        const Result run = run_kiln(args);
        REQUIRE(run.status == 0);
        const json want = json::parse(run.out);
        INFO("request " << req.dump());
        CHECK(got["text"] == want["text"]);
        CHECK(got["finish_reason"] == want["finish_reason"]);
        CHECK(got["completion_tokens"] == want["completion_tokens"]);
        finishes.insert(got["finish_reason"].get<std::string>());
    }
    CHECK(finishes.count("stop") == 1);  // the mix exercises more than one way to end
    CHECK(finishes.count("length") == 1);

    // One at a time on one thread: the same results.
    const std::string out1 = temp_dir() + "/mixed1.jsonl";
    const Result r1 = run_kiln(batch_args(in, out1, {"--parallel", "1", "-t", "1"}));
    REQUIRE(r1.status == 0);
    const auto serial = by_id(parse_jsonl(read_file(out1)));
    REQUIRE(serial.size() == results.size());
    for (const auto& [id, j] : results) {
        INFO(id);
        CHECK(serial.at(id)["text"] == j["text"]);
        CHECK(serial.at(id)["finish_reason"] == j["finish_reason"]);
        CHECK(serial.at(id)["seed"] == j["seed"]);
    }
}

TEST_CASE("requests sharing a prompt prefix compute it once and give the same results", "[batch]") {
    // 24 requests behind one system text, some twice the same; gemma3-tiny's sliding window
    // of 16 is shorter than the prefix, so its rings only copy what they still hold.
    const std::string system = "Once upon a time there was a little dog named Max who lived in a big house with a garden. ";
    const char* const questions[] = {"He liked", "One day", "The sun", "Max saw", "Lily and Ben"};
    std::vector<json> requests;
    for (int i = 0; i < 24; ++i) {
        json r = {{"id", i}, {"prompt", system + questions[i % 5]}, {"n_predict", 12 + i % 7}};
        if (i % 2) r["temp"] = 0.9;
        requests.push_back(r);
    }
    const std::string in = temp_dir() + "/shared-prefix.jsonl";
    write_file(in, jsonl(requests));
    for (const std::string& model : {model_path("stories260K.gguf"), generated_model("gemma3-tiny", "f16")}) {
        INFO(model);
        std::map<std::string, json> results[2];
        size_t reused[2] = {0, 0}, computed[2] = {0, 0};
        for (int reuse = 0; reuse < 2; ++reuse) {
            const std::string out = temp_dir() + "/shared-prefix-" + std::to_string(reuse) + ".jsonl";
            std::vector<std::string> args = {"batch", "-m", model, "-i", in, "-o", out, "-c", "256", "--seed", "3",
                                             "--parallel", "6", "--no-resume"};
            if (!reuse) args.push_back("--no-prefix-reuse");
            const Result r = run_kiln(args);
            INFO(r.err);
            REQUIRE(r.status == 0);
            const size_t at = r.err.find("prompt tokens: ");
            REQUIRE(at != std::string::npos);
            REQUIRE(std::sscanf(r.err.c_str() + at, "prompt tokens: %zu computed, %zu reused", &computed[reuse], &reused[reuse]) == 2);
            results[reuse] = by_id(parse_jsonl(read_file(out)));
            REQUIRE(results[reuse].size() == requests.size());
        }
        CHECK(reused[0] == 0);
        CHECK(reused[1] > 0);
        CHECK(computed[1] + reused[1] == computed[0]);
        for (const auto& [id, j] : results[0]) {
            INFO(id);
            CHECK(results[1].at(id)["text"] == j["text"]);
            CHECK(results[1].at(id)["finish_reason"] == j["finish_reason"]);
        }
        if (model.find("stories") != std::string::npos) CHECK(computed[1] * 3 < computed[0]);
    }
    // Four system texts taking turns, two slots: a free slot takes a queued request that shares
    // what the slots hold, so most prefixes are still computed once.
    std::string turns;
    const char* const systems[] = {"Once upon a time there was a little dog named Max who lived in a big house. ",
                                   "The sun was bright and the birds were singing in the trees near the river. ",
                                   "Lily and Ben went to the park with their mom to play on the swings. ",
                                   "Tom had a red ball that he loved more than anything else in the world. "};
    for (int i = 0; i < 32; ++i) turns += json{{"id", i}, {"prompt", systems[i % 4] + std::to_string(i)}, {"n_predict", 6}}.dump() + "\n";
    write_file(in, turns);
    const Result verbose = run_kiln({"batch", "-m", model_path("stories260K.gguf"), "-i", in, "-o", temp_dir() + "/turns.jsonl",
                                     "--parallel", "2", "--no-resume"});
    REQUIRE(verbose.status == 0);
    size_t turn_computed = 0, turn_reused = 0;
    REQUIRE(std::sscanf(verbose.err.c_str() + verbose.err.find("prompt tokens: "), "prompt tokens: %zu computed, %zu reused",
                        &turn_computed, &turn_reused) == 2);
    CHECK(turn_reused > turn_computed);

    // And request 1 is what kiln run gives.
    const std::string seed = std::to_string(by_id(parse_jsonl(read_file(temp_dir() + "/shared-prefix-1.jsonl"))).at("1")["seed"].get<uint64_t>());
    const Result run = run_kiln({"run", "-m", generated_model("gemma3-tiny", "f16"), "-p", requests[1]["prompt"], "-c", "256",
                                 "--json", "-q", "--seed", seed, "-n", "13", "--temp", "0.9"});
    REQUIRE(run.status == 0);
    CHECK(json::parse(run.out)["text"] == by_id(parse_jsonl(read_file(temp_dir() + "/shared-prefix-1.jsonl"))).at("1")["text"]);
}

TEST_CASE("OpenAI batch lines get OpenAI result lines, each choice what kiln run gives", "[batch][openai]") {
    const auto line = [](const std::string& id, const std::string& url, json body) {
        return json{{"custom_id", id}, {"method", "POST"}, {"url", url}, {"body", body}}.dump() + "\n";
    };
    const json schema = {{"type", "object"},
                         {"properties", {{"name", {{"type", "string"}, {"maxLength", 8}}}, {"age", {{"type", "integer"}}}}},
                         {"required", {"name", "age"}}};
    std::string input;
    input += line("chat", "/v1/chat/completions",
                  {{"model", "stories260K"}, {"messages", {{{"role", "user"}, {"content", "Hi there"}}}}, {"max_tokens", 12},
                   {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2}});
    input += line("two", "/v1/completions",
                  {{"prompt", "Once upon a time"}, {"max_tokens", 16}, {"n", 2}, {"temperature", 1.5}, {"seed", 11},
                   {"logprobs", 3}, {"stop", {"."}}});
    input += line("schema", "/v1/chat/completions",
                  {{"messages", {{{"role", "user"}, {"content", "Who?"}}}}, {"max_completion_tokens", 60}, {"seed", 4},
                   {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "p"}, {"schema", schema}}}}}});
    input += line("plain", "/v1/completions", {{"prompt", "The dog"}, {"max_tokens", 10}, {"top_k", 5}, {"stop", nullptr}, {"user", "u1"}});
    input += "{\"custom_id\": \"broken\", \"body\": \n";
    input += line("plain", "/v1/completions", {{"prompt", "again"}});
    input += line("embed", "/v1/embeddings", {{"input", "x"}});
    input += line("odd", "/v1/completions", {{"prompt", "x"}, {"logit_bias", json::object()}});
    input += line("long", "/v1/completions", {{"prompt", std::string(200, 'a') + " the end"}});
    input += line("many", "/v1/completions", {{"prompt", "x"}, {"n", 129}});
    input += line("cold", "/v1/completions", {{"prompt", "x"}, {"temperature", -1}});
    const std::string in = temp_dir() + "/openai.jsonl", out = temp_dir() + "/openai-out.jsonl";
    write_file(in, input);
    const std::vector<std::string> common = {"-m", model_path("stories260K.gguf"), "-c", "64", "--chat-template", "chatml"};
    std::vector<std::string> args = {"batch", "-i", in, "-o", out, "--no-resume", "--seed", "9", "--parallel", "4"};
    args.insert(args.end(), common.begin(), common.end());
    const Result r = run_kiln(args);
    INFO(r.err);
    CHECK(r.status == 3);
    CHECK(r.err.find("7 failed") != std::string::npos);
    std::map<std::string, json> got;
    std::set<size_t> line_numbers;
    for (const json& j : parse_jsonl(read_file(out))) {
        INFO(j.dump());
        // Every line: OpenAI's keys, a response or an error, never both.
        REQUIRE(j.contains("id"));
        CHECK(j["id"].get<std::string>().rfind("batch_req_", 0) == 0);
        REQUIRE(j.contains("custom_id"));
        REQUIRE(j.contains("response"));
        REQUIRE(j.contains("error"));
        CHECK(j["response"].is_null() != j["error"].is_null());
        line_numbers.insert(j["line"].get<size_t>());
        if (j["error"].is_object()) {
            CHECK(j["error"]["code"].is_string());
            CHECK(j["error"]["message"].is_string());
        } else {
            const json& resp = j["response"];
            CHECK(resp["status_code"] == 200);
            CHECK(resp["request_id"].is_string());
            const json& body = resp["body"];
            for (const char* key : {"id", "object", "created", "model", "choices", "usage"}) CHECK(body.contains(key));
            size_t completion = 0;
            for (size_t c = 0; c < body["choices"].size(); ++c) {
                const json& ch = body["choices"][c];
                CHECK(ch["index"] == c);
                CHECK((ch["finish_reason"] == "stop" || ch["finish_reason"] == "length"));
                CHECK(ch.contains("logprobs"));
                completion += ch["logprobs"].is_null() ? 0 : ch["logprobs"].contains("content") ? ch["logprobs"]["content"].size() : ch["logprobs"]["tokens"].size();
            }
            const json& u = body["usage"];
            CHECK(u["total_tokens"] == u["prompt_tokens"].get<size_t>() + u["completion_tokens"].get<size_t>());
            if (completion > 0) CHECK(u["completion_tokens"] == completion);
        }
        const std::string key = j["custom_id"].is_string() ? j["custom_id"].get<std::string>() : "line " + j["line"].dump();
        const bool repeated = j["error"].is_object() && j["error"]["code"] == "duplicate_custom_id";
        got[repeated ? key + " again" : key] = j;
    }
    CHECK(line_numbers.size() == 11);
    const auto error = [&](const std::string& key) { return got.at(key)["error"]; };
    CHECK(error("line 5")["code"] == "invalid_json");
    CHECK(error("plain again")["code"] == "duplicate_custom_id");
    CHECK(error("embed")["message"] == "\"url\" must be \"/v1/chat/completions\" or \"/v1/completions\"");
    CHECK(error("odd")["message"] == "body: unknown field \"logit_bias\"");
    CHECK(error("long")["code"] == "context_length_exceeded");
    CHECK(error("many")["message"] == "body: \"n\" must be an integer from 1 to 128");
    CHECK(error("cold")["message"] == "body: \"temperature\" must be 0 or more");  // OpenAI's name for it

    // Each choice is kiln run of the same request with the choice's seed.
    const auto run = [&](std::vector<std::string> flags, const json& choice) {
        const bool chat = std::find(flags.begin(), flags.end(), "--chat") != flags.end();
        flags.insert(flags.begin(), "run");
        flags.insert(flags.end(), common.begin(), common.end() - (chat ? 0 : 2));  // the template: for chats
        flags.insert(flags.end(), {"--json", "-q", "--seed", std::to_string(choice["seed"].get<uint64_t>())});
        const Result r = run_kiln(flags);
        INFO(r.err);
        REQUIRE(r.status == 0);
        return json::parse(r.out);
    };
    const json& chat = got.at("chat")["response"]["body"];
    CHECK(chat["object"] == "chat.completion");
    CHECK(chat["model"] == "stories260K");
    REQUIRE(chat["choices"].size() == 1);
    const json want_chat = run({"--chat", "-p", "Hi there", "-n", "12", "--temp", "0", "--logprobs", "2"}, chat["choices"][0]);
    CHECK(chat["choices"][0]["message"]["role"] == "assistant");
    CHECK(chat["choices"][0]["message"]["content"] == want_chat["content"]);
    CHECK(chat["usage"]["prompt_tokens"] == want_chat["prompt_tokens"]);
    const json& content = chat["choices"][0]["logprobs"]["content"];
    REQUIRE(content.size() == want_chat["tokens"].size());
    for (size_t t = 0; t < content.size(); ++t) {
        CHECK(content[t]["logprob"] == want_chat["tokens"][t]["logprob"]);
        CHECK(content[t]["token"] == want_chat["tokens"][t]["piece"]);
        CHECK(content[t]["top_logprobs"].size() == 2);
        CHECK(content[t]["bytes"].size() == want_chat["tokens"][t]["piece"].get<std::string>().size());
    }

    const json& two = got.at("two")["response"]["body"];
    CHECK(two["object"] == "text_completion");
    REQUIRE(two["choices"].size() == 2);
    CHECK(two["choices"][0]["seed"] == 11);
    CHECK(two["choices"][1]["seed"] == 12);
    CHECK(two["choices"][0]["text"] != two["choices"][1]["text"]);
    size_t completion_tokens = 0;
    for (const json& ch : two["choices"]) {
        const json want = run({"-p", "Once upon a time", "-n", "16", "--temp", "1.5", "--stop", ".", "--logprobs", "3"}, ch);
        CHECK(ch["text"] == want["text"]);
        CHECK(ch["finish_reason"] == (want["finish_reason"] == "length" ? "length" : "stop"));
        const json& lp = ch["logprobs"];
        REQUIRE(lp["tokens"].size() == want["tokens"].size());
        for (size_t t = 0; t < lp["tokens"].size(); ++t) {
            CHECK(lp["token_logprobs"][t] == want["tokens"][t]["logprob"]);
            CHECK(lp["top_logprobs"][t].size() <= 3);
        }
        completion_tokens += want["completion_tokens"].get<size_t>();
    }
    CHECK(two["usage"]["completion_tokens"] == completion_tokens);

    const json& schema_choice = got.at("schema")["response"]["body"]["choices"][0];
    const json want_schema = run({"--chat", "-p", "Who?", "-n", "60", "--json-schema", schema.dump()}, schema_choice);
    CHECK(schema_choice["message"]["content"] == want_schema["content"]);
    CHECK(schema_choice["logprobs"].is_null());
    if (schema_choice["finish_reason"] == "stop") CHECK(json::parse(schema_choice["message"]["content"].get<std::string>()).contains("age"));

    const json& plain = got.at("plain")["response"]["body"]["choices"][0];
    CHECK(plain["text"] == run({"-p", "The dog", "-n", "10", "--top-k", "5"}, plain)["text"]);
}

TEST_CASE("a killed batch resumes where it stopped and ends as an uninterrupted one", "[batch]") {
    std::vector<json> requests;
    for (int i = 0; i < 40; ++i) requests.push_back({{"prompt", kStarts[i % 8]}, {"n_predict", 200}, {"ignore_eos", true}});
    const std::string in = temp_dir() + "/long.jsonl";
    write_file(in, jsonl(requests));
    const std::vector<std::string> flags = {"--parallel", "2", "-t", "1"};

    const std::string whole = temp_dir() + "/long-whole.jsonl";
    REQUIRE(run_kiln(batch_args(in, whole, flags)).status == 0);
    const auto expected = by_id(parse_jsonl(read_file(whole)));
    REQUIRE(expected.size() == 40);

    const std::string out = temp_dir() + "/long-killed.jsonl";
    const Result killed = run_kiln_killed(batch_args(in, out, flags), [&] {
        std::ifstream f(out);
        return std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n') >= 6;
    });
    CHECK(killed.signal == SIGKILL);
    const size_t before = parse_jsonl(read_file(out)).size();
    CHECK(before >= 6);
    CHECK(before < 40);

    const Result resumed = run_kiln(batch_args(in, out, flags));
    INFO(resumed.err);
    REQUIRE(resumed.status == 0);
    CHECK(resumed.err.find("resuming") != std::string::npos);
    const auto got = by_id(parse_jsonl(read_file(out)));
    REQUIRE(got.size() == 40);
    for (const auto& [id, j] : expected) {
        INFO(id);
        CHECK(got.at(id)["text"] == j["text"]);
        CHECK(got.at(id)["finish_reason"] == j["finish_reason"]);
    }

    // A last line cut in the middle (a kill during a write) is dropped and redone.
    const std::string text = read_file(whole);
    size_t cut = 0;
    for (int i = 0; i < 3; ++i) cut = text.find('\n', cut) + 1;
    const std::string partial = temp_dir() + "/long-partial.jsonl";
    write_file(partial, text.substr(0, cut + 40));
    const Result redone = run_kiln(batch_args(in, partial, flags));
    REQUIRE(redone.status == 0);
    CHECK(redone.err.find("half-written") != std::string::npos);
    const auto all = by_id(parse_jsonl(read_file(partial)));
    CHECK(all.size() == 40);
    for (const auto& [id, j] : expected) CHECK(all.at(id)["text"] == j["text"]);
}

TEST_CASE("a killed batch of OpenAI lines resumes on custom_id and loses nothing", "[batch][openai]") {
    std::string input;
    for (int i = 0; i < 30; ++i)
        input += json{{"custom_id", "r" + std::to_string(i)},
                      {"method", "POST"},
                      {"url", "/v1/completions"},
                      {"body", {{"prompt", kStarts[i % 8]}, {"max_tokens", 150}, {"ignore_eos", true}, {"n", 1 + i % 2}}}}
                     .dump() +
                 "\n";
    input += "not json\n";
    const std::string in = temp_dir() + "/openai-long.jsonl";
    write_file(in, input);
    const std::vector<std::string> flags = {"--parallel", "2", "-t", "1"};
    // custom_id (or the line, for the one without) -> the texts of its choices, or its error code.
    const auto outcome = [](const std::string& path) {
        std::map<std::string, std::string> m;
        for (const json& j : parse_jsonl(read_file(path))) {
            const std::string key = j["custom_id"].is_null() ? "line " + j["line"].dump() : j["custom_id"].get<std::string>();
            CHECK(m.count(key) == 0);
            std::string& v = m[key];
            if (j["error"].is_object()) v = j["error"]["code"];
            else
                for (const json& c : j["response"]["body"]["choices"]) v += c["text"].get<std::string>() + "|";
        }
        return m;
    };
    const std::string whole = temp_dir() + "/openai-long-whole.jsonl";
    REQUIRE(run_kiln(batch_args(in, whole, flags)).status == 3);
    const auto expected = outcome(whole);
    REQUIRE(expected.size() == 31);
    CHECK(expected.at("line 31") == "invalid_json");

    const std::string out = temp_dir() + "/openai-long-killed.jsonl";
    const Result killed = run_kiln_killed(batch_args(in, out, flags), [&] {
        std::ifstream f(out);
        return std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n') >= 6;
    });
    CHECK(killed.signal == SIGKILL);
    CHECK(parse_jsonl(read_file(out)).size() < 31);
    const Result resumed = run_kiln(batch_args(in, out, flags));
    INFO(resumed.err);
    CHECK(resumed.status == 3);
    CHECK(resumed.err.find("resuming") != std::string::npos);
    CHECK(outcome(out) == expected);
    // Once more: everything is done, nothing is added.
    REQUIRE(run_kiln(batch_args(in, out, flags)).status == 0);
    CHECK(outcome(out) == expected);
}

TEST_CASE("bad batch lines become error lines and the rest goes on", "[batch]") {
    std::string long_prompt;  // 320 bytes: past the context in tokens, not in bytes
    for (int i = 0; i < 40; ++i) long_prompt += "the cat ";
    const std::string input = "{\"prompt\": \"Once upon a time\", \"n_predict\": 8}\n"
                              "this is not json\n"
                              "{\"id\": \"no-prompt\", \"n_predict\": 8}\n"
                              "{\"id\": \"long\", \"prompt\": \"" + long_prompt + "\"}\n"
                              "{\"id\": \"hot\", \"prompt\": \"The dog\", \"temp\": \"hot\"}\n"
                              "\n"
                              "{\"prompt\": \"The dog\", \"n_predict\": 8, \"top_p\": 2}\n"
                              "{\"prompt\": \"The cat\", \"n_predict\": 8, \"max_tokens\": 3}\n"
                              "[1, 2]\n"
                              "{\"id\": \"hot\", \"prompt\": \"A repeated id\"}\n"
                              "{\"id\": \"huge\", \"prompt\": \"" + std::string(10 << 20, 'a') + "\"}\n"
                              "{\"id\": \"last\", \"prompt\": \"The cat\", \"n_predict\": 8}";  // no final newline
    const std::string in = temp_dir() + "/bad.jsonl", out = temp_dir() + "/bad-out.jsonl";
    write_file(in, input);
    const Result r = run_kiln(batch_args(in, out, {"-c", "64"}));
    INFO(r.err);
    CHECK(r.status == 3);
    CHECK(r.err.find("9 failed") != std::string::npos);
    const auto lines = parse_jsonl(read_file(out));
    REQUIRE(lines.size() == 11);  // the blank line is skipped
    const auto repeated = std::find_if(lines.begin(), lines.end(), [](const json& j) { return j.contains("duplicate"); });
    REQUIRE(repeated != lines.end());
    CHECK((*repeated)["line"] == 10);
    CHECK((*repeated)["error"] == "duplicate id \"hot\"");
    std::vector<json> unique_lines;
    std::copy_if(lines.begin(), lines.end(), std::back_inserter(unique_lines), [](const json& j) { return !j.contains("duplicate"); });
    const auto got = by_id(unique_lines);
    const auto error_of = [&](const json& id) { return got.at(id.dump()).value("error", std::string()); };
    CHECK(error_of(2) == "not valid JSON");
    CHECK(error_of("no-prompt") == "no \"prompt\" or \"messages\"");
    CHECK(error_of("long").find("leaves no room in a context of 64") != std::string::npos);
    CHECK(error_of("hot") == "\"temp\" must be a number");
    CHECK(error_of(7) == "\"top_p\" must be in (0, 1]");  // the line's field, not the flag
    CHECK(error_of(8) == "unknown field \"max_tokens\"");
    CHECK(error_of(9) == "not a JSON object");
    CHECK(error_of("huge").find("bytes, more than a context of 64 tokens can hold") != std::string::npos);
    for (const json& id : {json(1), json("last")}) {
        CHECK(error_of(id).empty());
        CHECK(got.at(id.dump())["completion_tokens"] == 8);
    }
    CHECK(got.at("\"long\"")["line"] == 4);
}

TEST_CASE("plain prompts, standard input and output, shards", "[batch]") {
    const std::string input = "Once upon a time\nThe little dog\nLily and Ben\nOne day\n";
    const std::vector<std::string> base = {"batch", "-m", model_path("stories260K.gguf"), "-i", "-", "-o", "-",
                                           "--plain", "-n", "6", "--temp", "0", "-q"};
    const Result all = run_kiln(base, input);
    INFO(all.err);
    REQUIRE(all.status == 0);
    const auto lines = by_id(parse_jsonl(all.out));
    CHECK(lines.size() == 4);

    std::map<std::string, json> merged;
    for (const char* shard : {"0/2", "1/2"}) {
        std::vector<std::string> args = base;
        args.insert(args.end(), {"--shard", shard});
        const Result r = run_kiln(args, input);
        REQUIRE(r.status == 0);
        const auto part = by_id(parse_jsonl(r.out));
        CHECK(part.size() == 2);
        for (const auto& [id, j] : part) merged[id] = j;
    }
    REQUIRE(merged.size() == 4);
    for (const auto& [id, j] : lines) CHECK(merged.at(id)["text"] == j["text"]);
    CHECK(run_kiln({"batch", "-m", model_path("stories260K.gguf"), "-i", "-", "-o", "-", "--shard", "2/2"}).status == 1);
}

TEST_CASE("a batch split by --shard auto as mpirun, Slurm and Kubernetes start it: the parts make the whole", "[batch][scale]") {
    std::string input;
    for (int i = 0; i < 11; ++i) {
        json r = {{"prompt", kStarts[i % 8]}, {"n_predict", 6 + i}};
        if (i % 2) r["temp"] = 1.0;
        input += r.dump() + "\n";
    }
    input += R"({"custom_id": "oa", "method": "POST", "url": "/v1/completions", "body": {"prompt": "A cat", "max_tokens": 5}})" "\n";
    const std::string dir = temp_dir(), in = dir + "/scale.jsonl";
    write_file(in, input);
    const std::vector<std::string> common = {"batch", "-m", model_path("stories260K.gguf"), "-i", in, "--seed", "5", "-t", "1"};
    const auto with = [&](std::vector<std::string> more) {
        std::vector<std::string> args = common;
        args.insert(args.end(), more.begin(), more.end());
        return args;
    };
    // Results by line, without the timings, which differ from run to run.
    const auto results = [](const std::vector<std::string>& paths) {
        std::map<size_t, json> by_line;
        for (const std::string& p : paths)
            for (json j : parse_jsonl(read_file(p))) {
                j.erase("timings");
                if (j.contains("response")) j["response"]["body"].erase("created");
                CHECK(by_line.count(j["line"]) == 0);
                by_line[j["line"].get<size_t>()] = j;
            }
        return by_line;
    };
    REQUIRE(run_kiln(with({"-o", dir + "/whole.jsonl"})).status == 0);
    const auto whole = results({dir + "/whole.jsonl"});
    REQUIRE(whole.size() == 12);

    // Open MPI, two ranks.
    std::vector<std::string> mpi = {"--allow-run-as-root", "--oversubscribe", "-n", "2", KILN_BINARY};
    for (const std::string& a : with({"--shard", "auto", "-o", dir + "/mpi-{shard}.jsonl"})) mpi.push_back(a);
    const Result m = run_program("mpirun", mpi);
    INFO(m.err);
    REQUIRE(m.status == 0);
    CHECK(m.err.find("shard 1 of 2 (OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE)") != std::string::npos);
    CHECK(results({dir + "/mpi-0.jsonl", dir + "/mpi-1.jsonl"}) == whole);

    // The environments of a Slurm array (--array=1-3), Slurm tasks and a Kubernetes Indexed Job.
    struct Launch {
        std::string name, source;
        std::vector<std::vector<std::string>> envs;
        std::vector<std::string> flags;
    };
    const std::vector<Launch> launches = {
        {"array", "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT", {}, {}},
        {"tasks", "SLURM_PROCID/SLURM_NTASKS", {}, {}},
        {"k8s", "JOB_COMPLETION_INDEX/--shard-count", {}, {"--shard-count", "3"}},
    };
    for (Launch l : launches) {
        std::vector<std::string> parts;
        for (int k = 0; k < 3; ++k) {
            const std::string i = std::to_string(k);
            const std::vector<std::string> env =
                l.name == "array"   ? std::vector<std::string>{"SLURM_ARRAY_TASK_ID=" + std::to_string(k + 1), "SLURM_ARRAY_TASK_COUNT=3",
                                                               "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=3", "SLURM_ARRAY_TASK_STEP=1"}
                : l.name == "tasks" ? std::vector<std::string>{"SLURM_PROCID=" + i, "SLURM_NTASKS=3"}
                                    : std::vector<std::string>{"JOB_COMPLETION_INDEX=" + i};
            std::vector<std::string> flags = {"--shard", "auto", "-o", dir + "/" + l.name + "-{shard}.jsonl"};
            flags.insert(flags.end(), l.flags.begin(), l.flags.end());
            const Result r = run_kiln_env(with(flags), env);
            INFO(l.name << " " << k << ": " << r.err);
            REQUIRE(r.status == 0);
            CHECK(r.err.find("shard " + i + " of 3 (" + l.source + ")") != std::string::npos);
            parts.push_back(dir + "/" + l.name + "-" + i + ".jsonl");
        }
        INFO(l.name);
        CHECK(results(parts) == whole);
    }

    // What --shard auto refuses.
    const auto refused = [&](std::vector<std::string> flags, const std::vector<std::string>& env) {
        const Result r = run_kiln_env(with(flags), env);
        CHECK(r.status == 1);
        return r.err;
    };
    CHECK(refused({"--shard", "auto", "-o", dir + "/x.jsonl"}, {"SLURM_PROCID=0", "SLURM_NTASKS=2"}).find("-o needs {shard}") != std::string::npos);
    CHECK(refused({"--shard", "auto", "-o", "-"}, {"JOB_COMPLETION_INDEX=0"}).find("--shard-count") != std::string::npos);
    CHECK(refused({"--shard", "auto", "-o", "-"}, {"PMI_RANK=2", "PMI_SIZE=2"}).find("index 2 of 2") != std::string::npos);
    CHECK(refused({"--shard", "auto", "-o", "-"}, {"SLURM_PROCID=one", "SLURM_NTASKS=2"}).find("SLURM_PROCID is \"one\"") != std::string::npos);
    CHECK(refused({"--shard", "0/2", "--shard-count", "2", "-o", "-"}, {}).find("--shard-count goes with --shard auto") != std::string::npos);
}

TEST_CASE("batch output that cannot be written is an error, not lost silently", "[batch]") {
    const std::string in = temp_dir() + "/one.jsonl";
    write_file(in, "{\"prompt\": \"Once upon a time\", \"n_predict\": 4}\n");
    const Result full = run_kiln({"batch", "-m", model_path("stories260K.gguf"), "-i", in, "-o", "/dev/full"});
    CHECK(full.status == 1);
    CHECK(full.err.find("/dev/full: cannot write") != std::string::npos);
    const Result dir = run_kiln({"batch", "-m", model_path("stories260K.gguf"), "-i", in, "-o", temp_dir() + "/no/such/dir/out.jsonl"});
    CHECK(dir.status == 1);
    CHECK(dir.err.find("cannot open for writing") != std::string::npos);
}

TEST_CASE("a batch line's overrides are parsed and checked", "[batch]") {
    using kiln::cli::BatchLine;
    kiln::GenerationParams defaults;
    defaults.n_predict = 50;
    BatchLine line;
    kiln::cli::parse_batch_line(R"({"id": "x", "prompt": "hi", "temp": 0.5, "top_k": 3, "stop": "END", "seed": 9, "logprobs": 2})",
                                4, false, defaults, line);
    CHECK(line.id == "x");
    CHECK(line.prompt == "hi");
    CHECK(line.params.n_predict == 50);
    CHECK(line.params.sampler.temp == 0.5f);
    CHECK(line.params.sampler.top_k == 3);
    CHECK(line.params.stops == std::vector<std::string>{"END"});
    CHECK(line.seeded);
    CHECK(line.params.sampler.seed == 9);
    CHECK(line.params.n_logprobs == 2);

    kiln::cli::parse_batch_line("just text {", 5, true, defaults, line);
    CHECK(line.id == 5);
    CHECK(line.prompt == "just text {");
    CHECK_FALSE(line.seeded);

    for (const char* bad : {R"({"prompt": "x", "top_k": 1.5})", R"({"prompt": "x", "seed": -1})",
                            R"({"prompt": "x", "n_predict": 99999999999999})", R"({"prompt": "x", "stop": [1]})",
                            R"({"prompt": "x", "id": [1]})", R"({"prompt": 3})", R"({"prompt": "x", "temp": -1})",
                            R"({"prompt": "x", "ignore_eos": 1})", "{\"prompt\": \"\xff\"}"}) {
        INFO(bad);
        CHECK_THROWS_AS(kiln::cli::parse_batch_line(bad, 1, false, defaults, line), kiln::Error);
    }
}
