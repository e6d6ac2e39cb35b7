// The Jinja renderer (jinja/) against Debian's python3-jinja2, through the shared reference
// renderer: every shared chat template with every case, a list of language snippets, and
// hostile templates that must end in an error.
#include <catch2/catch.hpp>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "jinja/template.h"

using namespace kiln::test;

namespace {

std::vector<std::string> files_in(const std::string& dir, const std::string& suffix) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (const dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(dir + "/" + n);
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// scripts/reference_chat.py's results for these arguments.
nlohmann::json reference(const std::vector<std::string>& args) {
    const std::string out = temp_dir() + "/reference.json";
    std::string cmd = "KILN_SHARED='" + shared_dir() + "' /usr/bin/python3 '" KILN_SOURCE_DIR "/scripts/reference_chat.py' '" + out + "'";
    for (const std::string& a : args) cmd += " '" + a + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);  // needs python3-jinja2 (scripts/setup.sh installs it)
    return nlohmann::json::parse(read_file(out));
}

jinja::RenderOptions fixed_time() {
    jinja::RenderOptions o;
    o.now.tm_year = 2026 - 1900;  // the reference renderer's strftime_now: 2026-01-15 12:00:00, a Thursday
    o.now.tm_mon = 0;
    o.now.tm_mday = 15;
    o.now.tm_hour = 12;
    o.now.tm_wday = 4;
    o.now.tm_yday = 14;
    return o;
}

struct Rendered {
    bool ok;
    std::string text;
};

Rendered kiln_render(const std::string& source, const nlohmann::ordered_json& vars) {
    try {
        return {true, jinja::Template(source).render(vars, fixed_time())};
    } catch (const jinja::Error& e) {
        return {false, e.what()};
    }
}

}  // namespace

TEST_CASE("every shared chat template renders every case as python3-jinja2 does", "[jinja][reference]") {
    const auto templates = files_in(shared_dir() + "/chat/templates", ".jinja");
    auto cases = files_in(shared_dir() + "/chat/cases", ".json");
    for (const auto& c : files_in(KILN_SOURCE_DIR "/tests/chat_cases", ".json")) cases.push_back(c);
    REQUIRE(templates.size() >= 27);
    REQUIRE(cases.size() >= 9);
    std::vector<std::string> args = {"--pairs"};
    for (const auto& t : templates)
        for (const auto& c : cases) args.insert(args.end(), {t, c});
    const nlohmann::json ref = reference(args);
    REQUIRE(ref.size() == templates.size() * cases.size());
    size_t i = 0, raised = 0;
    for (const auto& t : templates)
        for (const auto& c : cases) {
            const Rendered got = kiln_render(read_file(t), nlohmann::ordered_json::parse(read_file(c)));
            const auto& want = ref[i++];
            INFO(t << " with " << c << (want["ok"].get<bool>() ? "" : ": the reference raised " + want["error"].get<std::string>())
                   << (got.ok ? "" : "; kiln: " + got.text));
            CHECK(got.ok == want["ok"].get<bool>());
            if (got.ok && want["ok"].get<bool>()) CHECK(got.text == want["text"].get<std::string>());
            raised += !want["ok"].get<bool>();
        }
    WARN(ref.size() << " renders compared, " << raised << " of them raising in both");
}

TEST_CASE("the language's statements, filters, tests and methods behave as python3-jinja2's", "[jinja][reference]") {
    const std::string snippets = KILN_SOURCE_DIR "/tests/jinja/snippets.txt", case_file = KILN_SOURCE_DIR "/tests/jinja/snippet-case.json";
    const nlohmann::json ref = reference({"--snippets", snippets, case_file});
    const auto vars = nlohmann::ordered_json::parse(read_file(case_file));
    const std::string all = read_file(snippets);
    std::vector<std::string> list;
    for (size_t start = 0;;) {
        const size_t at = all.find("\n====\n", start);
        const std::string s = all.substr(start, at == std::string::npos ? std::string::npos : at - start);
        if (s.find_first_not_of(" \t\n") != std::string::npos) list.push_back(s);
        if (at == std::string::npos) break;
        start = at + 6;
    }
    REQUIRE(list.size() == ref.size());
    REQUIRE(list.size() >= 80);
    for (size_t i = 0; i < list.size(); ++i) {
        const Rendered got = kiln_render(list[i], vars);
        INFO(list[i] << "\nreference: " << ref[i].dump() << "\nkiln: " << (got.ok ? "" : "error ") << got.text);
        CHECK(got.ok == ref[i]["ok"].get<bool>());
        if (got.ok && ref[i]["ok"].get<bool>()) CHECK(got.text == ref[i]["text"].get<std::string>());
    }
}

TEST_CASE("hostile templates end in one error, not a hang or a crash", "[jinja][security]") {
    const auto hostile = files_in(KILN_SOURCE_DIR "/tests/jinja/hostile", ".jinja");
    REQUIRE(hostile.size() >= 10);
    const std::string messages = temp_dir() + "/hostile-case.json";
    write_file(messages, R"({"messages": [{"role": "user", "content": "hi"}]})");
    for (const auto& f : hostile) {
        INFO(f);
        bool threw = false;
        try {
            jinja::Template(read_file(f)).render(nlohmann::ordered_json::object(), jinja::RenderOptions{});
        } catch (const jinja::Raised&) {
            FAIL("a hostile template is not raise_exception");
        } catch (const jinja::Error& e) {
            threw = std::string(e.what()).find('\n') == std::string::npos;
        }
        CHECK(threw);
        const Result r = run_kiln({"prompt", "--chat-template-file", f, "--messages", messages});
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
}

TEST_CASE("kiln prompt prints the rendered prompt exactly, or the template's own error", "[jinja][cli]") {
    const std::string dir = shared_dir() + "/chat/";
    const std::string qwen = dir + "templates/Qwen-Qwen2.5-7B-Instruct.jinja";
    const Result r = run_kiln({"prompt", "--chat-template-file", qwen, "--messages", dir + "cases/user-only.json"});
    REQUIRE(r.status == 0);
    CHECK(r.out == "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\nWrite a haiku about a kiln.<|im_end|>\n<|im_start|>assistant\n");
    // A template that raises: exit 1 and its message.
    const std::string mistral = dir + "templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", bad = temp_dir() + "/bad-roles.json";
    write_file(bad, R"({"messages": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]})");
    const Result raised = run_kiln({"prompt", "--chat-template-file", mistral, "--messages", bad});
    CHECK(raised.status == 1);
    CHECK(raised.err.find("conversation roles must alternate user/assistant") != std::string::npos);
    // Built-in templates, and the variables --chat-template-kwargs adds.
    const Result chatml = run_kiln({"prompt", "--chat-template", "chatml", "--messages", dir + "cases/user-only.json"});
    CHECK(chatml.out == "<|im_start|>user\nWrite a haiku about a kiln.<|im_end|>\n<|im_start|>assistant\n");
    const std::string qwen3 = dir + "templates/Qwen-Qwen3-0.6B.jinja";
    const Result off = run_kiln({"prompt", "--chat-template-file", qwen3, "--messages", dir + "cases/user-only.json",
                                 "--chat-template-kwargs", R"({"enable_thinking": false})"});
    const std::string empty_thought = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
    CHECK(off.out.size() > empty_thought.size());
    CHECK(off.out.substr(off.out.size() - empty_thought.size()) == empty_thought);
    const Result unknown = run_kiln({"prompt", "--chat-template", "nope", "--messages", dir + "cases/user-only.json"});
    CHECK(unknown.status == 1);
    CHECK(unknown.err.find("chatml, llama2, llama3, mistral, gemma, phi3, deepseek") != std::string::npos);
    const std::string parse_error = temp_dir() + "/parse-error.jinja";
    write_file(parse_error, "line one\n{% if x %}\n{{ x + }}\n{% endif %}");
    const Result perr = run_kiln({"prompt", "--chat-template-file", parse_error, "--messages", dir + "cases/user-only.json"});
    CHECK(perr.status == 1);
    CHECK(perr.err.find("line 3: expected an expression") != std::string::npos);
    // A vocabulary-only GGUF gives the tokens' texts (no weights needed).
    const std::string plain_case = temp_dir() + "/no-bos.json";
    write_file(plain_case, R"({"messages": [{"role": "user", "content": "Write a haiku about a kiln."}]})");
    const Result vocab = run_kiln({"prompt", "-m", shared_dir() + "/models/tokenizers/llama2/ggml-vocab-llama-spm.gguf",
                                   "--chat-template", "llama2", "--messages", plain_case});
    CHECK(vocab.status == 0);
    CHECK(vocab.out == "<s>[INST] Write a haiku about a kiln. [/INST]");
    for (const std::string_view name : {"chatml", "llama2", "llama3", "mistral", "gemma", "phi3", "deepseek"}) {
        INFO(name);
        const Result b = run_kiln({"prompt", "--chat-template", std::string(name), "--messages", dir + "cases/system-multiturn.json"});
        CHECK(b.status == 0);
        CHECK(b.out.find("And 3+3?") != std::string::npos);
        CHECK(b.out.find("You are a helpful assistant.") != std::string::npos);
    }
}
