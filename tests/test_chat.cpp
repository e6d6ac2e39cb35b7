// kiln run --chat and kiln chat on a model that carries a real chat template (Llama 3.1's, on
// the llama3-tiny shape): the same tokens as the rendered prompt given by hand, the same replies
// from a kept KV cache as from the whole history computed again, on a pipe and on a terminal.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <map>
#include <regex>
#include <thread>

#include "helpers.h"

using namespace kiln::test;

namespace {

const std::string kNow = "2026-01-15 12:00:00";

std::string chat_model() {
    return generated_model("llama3-tiny", "f16",
                           "--chat-template '" + shared_dir() + "/chat/templates/meta-llama-Llama-3.1-8B-Instruct.jinja'");
}

const std::vector<std::string> kGreedy = {"--temp", "0", "-n", "10", "--now", kNow, "-t", "2"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// The kiln run --chat --json result for the conversation so far and the next user message.
nlohmann::json run_chat(const std::string& model, const nlohmann::json& history, const std::string& user) {
    const std::string file = temp_dir() + "/history.json";
    write_file(file, history.dump());
    const Result r = run_kiln(with({"run", "-m", model, "--chat", "--messages", file, "-p", user, "--json"}, kGreedy));
    REQUIRE(r.status == 0);
    return nlohmann::json::parse(r.out);
}

// "prompt N tokens (M new)" of each turn on stderr.
std::vector<std::pair<size_t, size_t>> prompt_counts(const std::string& err) {
    std::vector<std::pair<size_t, size_t>> out;
    const std::regex re(R"(prompt (\d+) tokens \((\d+) new\))");
    for (auto it = std::sregex_iterator(err.begin(), err.end(), re); it != std::sregex_iterator(); ++it)
        out.emplace_back(std::stoul((*it)[1]), std::stoul((*it)[2]));
    return out;
}

const std::vector<std::string> kTurns = {"Hi there", "How are you?", "Tell me about kilns."};

}  // namespace

TEST_CASE("run --chat gives the tokens of kiln prompt's text run with --special", "[chat]") {
    const std::string model = chat_model();
    const std::string case_file = temp_dir() + "/chat-case.json", prompt_file = temp_dir() + "/chat-prompt.txt";
    write_file(case_file, R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]})");
    const Result p = run_kiln({"prompt", "-m", model, "--messages", case_file, "--now", kNow});
    REQUIRE(p.status == 0);
    CHECK(p.out.find("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024") !=
          std::string::npos);
    write_file(prompt_file, p.out);
    const Result by_hand = run_kiln(with({"run", "-m", model, "--special", "-f", prompt_file, "--json"}, kGreedy));
    const Result chat = run_kiln(with({"run", "-m", model, "--chat", "-sys", "Be brief.", "-p", "Hello there", "--json"}, kGreedy));
    REQUIRE(by_hand.status == 0);
    REQUIRE(chat.status == 0);
    const auto a = nlohmann::json::parse(by_hand.out), b = nlohmann::json::parse(chat.out);
    CHECK(a["prompt_tokens"] == b["prompt_tokens"]);
    CHECK(a["tokens"] == b["tokens"]);
    CHECK(b["tokens"].size() == 10);
    // The template's BOS is not doubled.
    CHECK(a["prompt_tokens"].get<size_t>() + 0 == b["prompt_tokens"].get<size_t>());
    // Without --chat, the chat options are refused by name.
    const Result bad = run_kiln({"run", "-m", model, "-sys", "x", "-p", "y"});
    CHECK(bad.status == 1);
    CHECK(bad.err.find("need --chat") != std::string::npos);
}

TEST_CASE("kiln chat through a pipe replies as run --chat with the growing history, computing only new tokens", "[chat]") {
    const std::string model = chat_model();
    nlohmann::json history = nlohmann::json::array();
    std::vector<nlohmann::json> expected;
    for (const std::string& user : kTurns) {
        expected.push_back(run_chat(model, history, user));
        history.push_back({{"role", "user"}, {"content", user}});
        history.push_back({{"role", "assistant"}, {"content", expected.back()["text"]}});
    }
    // Plain lines: each reply, then a newline.
    std::string input, want;
    for (size_t i = 0; i < kTurns.size(); ++i) {
        input += kTurns[i] + "\n";
        want += expected[i]["text"].get<std::string>() + "\n";
    }
    const Result plain = run_kiln(with({"chat", "-m", model}, kGreedy), input);
    REQUIRE(plain.status == 0);
    CHECK(plain.out == want);
    // JSON messages.
    std::string jsonl;
    for (const std::string& user : kTurns) jsonl += nlohmann::json{{"role", "user"}, {"content", user}}.dump() + "\n";
    const Result j = run_kiln(with({"chat", "-m", model, "--jsonl"}, kGreedy), jsonl);
    REQUIRE(j.status == 0);
    std::vector<std::string> lines;
    for (size_t start = 0, nl; (nl = j.out.find('\n', start)) != std::string::npos; start = nl + 1) lines.push_back(j.out.substr(start, nl - start));
    REQUIRE(lines.size() == kTurns.size());
    for (size_t i = 0; i < lines.size(); ++i) {
        const auto m = nlohmann::json::parse(lines[i]);
        CHECK(m["role"] == "assistant");
        CHECK(m["content"] == expected[i]["content"]);
    }
    // Turn k computes its prompt less what turn k - 1's prompt already put in the cache.
    const auto counts = prompt_counts(j.err);
    REQUIRE(counts.size() == kTurns.size());
    for (size_t i = 0; i < counts.size(); ++i) {
        INFO("turn " << i + 1 << ": " << counts[i].first << " tokens, " << counts[i].second << " computed");
        CHECK(counts[i].first == expected[i]["prompt_tokens"].get<size_t>());
        if (i == 0) CHECK(counts[i].second == counts[i].first);
        else {
            CHECK(counts[i].second > 0);
            CHECK(counts[i].second <= counts[i].first - counts[i - 1].first);
        }
    }
}

TEST_CASE("kiln chat drops the oldest turns when the context fills, and says so", "[chat]") {
    const std::string model = chat_model();
    std::string input;
    for (int i = 0; i < 6; ++i) input += "Message number " + std::to_string(i) + " with a few more words in it\n";
    const Result r = run_kiln({"chat", "-m", model, "-c", "160", "--temp", "0", "-n", "8", "--now", kNow, "-sys", "Be brief."}, input);
    REQUIRE(r.status == 0);
    CHECK(r.err.find("the context was full: dropped the 2 oldest messages") != std::string::npos);
    CHECK(prompt_counts(r.err).size() == 6);
    const Result tiny = run_kiln({"chat", "-m", model, "-c", "40", "-n", "8", "--now", kNow}, "hello\n");
    CHECK(tiny.status == 1);
    CHECK(tiny.err.find("leaves no room for 8 tokens of reply in a context of 40") != std::string::npos);
}

TEST_CASE("kiln chat on a terminal (tmux): the same replies, and its commands", "[chat][terminal]") {
    REQUIRE(std::system("command -v tmux >/dev/null") == 0);  // scripts/setup.sh --tests installs it
    const std::string model = chat_model();
    nlohmann::json history = nlohmann::json::array();
    std::vector<std::string> replies;
    for (const std::string& user : kTurns) {
        replies.push_back(run_chat(model, history, user)["text"]);
        history.push_back({{"role", "user"}, {"content", user}});
        history.push_back({{"role", "assistant"}, {"content", replies.back()}});
    }
    const std::string dir = temp_dir(), session = "kiln-test-" + std::to_string(getpid());
    const std::string saved = dir + "/saved.json", undone = dir + "/undone.json", err = dir + "/chat-stderr.txt";
    std::string cmd = "'" KILN_BINARY "' chat -m '" + model + "'";
    for (const std::string& a : kGreedy) cmd += " '" + a + "'";
    const auto tmux = [&](const std::string& args) { return std::system(("tmux " + args + " >/dev/null 2>&1").c_str()); };
    REQUIRE(tmux("new-session -d -s " + session + " -x 200 -y 50 \"" + cmd + " 2>" + err + "\"") == 0);
    // Waits (polling, no time assertion) until the pane shows the prompt `n` times (lines
    // starting with ">": capture-pane drops the space after it).
    const auto wait_prompts = [&](size_t n) {
        for (int i = 0; i < 600; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const std::string pane = dir + "/pane.txt";
            std::system(("tmux capture-pane -p -S -200 -t " + session + " > '" + pane + "' 2>/dev/null").c_str());
            const std::string text = read_file(pane);
            size_t count = text.rfind(">", 0) == 0 ? 1 : 0;
            for (size_t at = text.find("\n>"); at != std::string::npos; at = text.find("\n>", at + 2)) ++count;
            if (count >= n) return true;
        }
        return false;
    };
    const auto send = [&](const std::string& line) { tmux("send-keys -t " + session + " -l '" + line + "'"), tmux("send-keys -t " + session + " Enter"); };
    REQUIRE(wait_prompts(1));
    for (size_t i = 0; i < kTurns.size(); ++i) {
        send(kTurns[i]);
        REQUIRE(wait_prompts(i + 2));
    }
    send("/save " + saved);
    send("/undo");
    send("/save " + undone);
    send("/exit");
    for (int i = 0; i < 300 && tmux("has-session -t " + session) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    tmux("kill-session -t " + session);
    const auto conv = nlohmann::json::parse(read_file(saved))["messages"];
    REQUIRE(conv.size() == 2 * kTurns.size());
    for (size_t i = 0; i < kTurns.size(); ++i) {
        CHECK(conv[2 * i]["content"] == kTurns[i]);
        CHECK(conv[2 * i + 1]["content"] == replies[i]);
    }
    CHECK(nlohmann::json::parse(read_file(undone))["messages"].size() == 2 * kTurns.size() - 2);
    const auto counts = prompt_counts(read_file(err));
    REQUIRE(counts.size() == kTurns.size());
    CHECK(counts[1].second <= counts[1].first - counts[0].first);
    CHECK(counts[2].second <= counts[2].first - counts[1].first);
}

TEST_CASE("batch lines with messages are rendered and answered as run --chat does", "[chat][batch]") {
    const std::string model = chat_model();
    const std::vector<nlohmann::json> convs = {
        nlohmann::json::array({{{"role", "user"}, {"content", "Hi there"}}}),
        nlohmann::json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "What is a kiln?"}}}),
        nlohmann::json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}}, {{"role", "user"}, {"content", "c"}}}),
    };
    std::string input;
    std::vector<nlohmann::json> expected;
    for (size_t i = 0; i < convs.size(); ++i) {
        input += nlohmann::json{{"id", i}, {"messages", convs[i]}}.dump() + "\n";
        nlohmann::json history = convs[i];
        const std::string user = history.back()["content"];
        history.erase(history.size() - 1);
        expected.push_back(run_chat(model, history, user));
    }
    input += R"({"id": "both", "prompt": "x", "messages": [{"role": "user", "content": "y"}]})" "\n";
    input += R"({"id": "empty", "messages": []})" "\n";
    const std::string in = temp_dir() + "/chat-batch.jsonl", out = temp_dir() + "/chat-batch-out.jsonl";
    write_file(in, input);
    const Result r = run_kiln(with({"batch", "-m", model, "-i", in, "-o", out, "--no-resume", "--parallel", "3"}, kGreedy));
    CHECK(r.status == 3);  // two lines failed
    std::map<std::string, nlohmann::json> got;
    const std::string text = read_file(out);
    for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
        const auto j = nlohmann::json::parse(text.substr(start, nl - start));
        got[j["id"].dump()] = j;
    }
    for (size_t i = 0; i < convs.size(); ++i) {
        INFO("line " << i);
        const auto& g = got[std::to_string(i)];
        CHECK(g["text"] == expected[i]["text"]);
        CHECK(g["content"] == expected[i]["content"]);
        CHECK(g["prompt_tokens"] == expected[i]["prompt_tokens"]);
    }
    CHECK(got["\"both\""]["error"] == "\"prompt\" and \"messages\" exclude each other");
    CHECK(got["\"empty\""]["error"] == "\"messages\" must be a non-empty array");
}

TEST_CASE("kiln chat --prompt-cache starts from the saved conversation's rows, with the same replies", "[chat][prompt-cache]") {
    const std::string model = chat_model(), cache = temp_dir() + "/chat.cache";
    const std::string input = "Hello there\nTell me about kilns\n";
    const std::vector<std::string> sys = {"-sys", "You are a helpful assistant who answers in one short sentence."};
    std::vector<std::string> args = with({"chat", "-m", model}, kGreedy);
    args.insert(args.end(), sys.begin(), sys.end());
    const Result plain = run_kiln(args, input);
    REQUIRE(plain.status == 0);
    args.insert(args.end(), {"--prompt-cache", cache});
    const Result first = run_kiln(args, input);
    INFO(first.err);
    REQUIRE(first.status == 0);
    CHECK(first.out == plain.out);
    CHECK(first.err.find("loaded") == std::string::npos);
    const Result second = run_kiln(args, input);
    INFO(second.err);
    REQUIRE(second.status == 0);
    CHECK(second.out == plain.out);
    CHECK(second.err.find("tokens loaded from") != std::string::npos);
}
