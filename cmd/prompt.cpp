// kiln prompt: the exact text a chat template makes of a conversation, nothing added.
#include <cstdio>
#include <memory>

#include "cmd/chat_options.h"
#include "cmd/commands.h"
#include "engine/gguf.h"
#include "engine/model.h"

namespace kiln::cli {

namespace {

struct PromptCommandArgs {
    std::string model;
    std::string messages;
    ChatTemplateArgs chat;
};

// The case: an object with messages and any other variables, or just an array of messages.
nlohmann::ordered_json read_case(const std::string& path) {
    nlohmann::ordered_json j = read_json_file(path);
    if (j.is_array()) return {{"messages", read_messages(path)}};
    if (!j.is_object()) throw Error(path + ": expected an object with \"messages\"");
    j["messages"] = read_messages(path);
    return j;
}

int prompt(const PromptCommandArgs& a) {
    std::unique_ptr<GgufFile> gguf;
    std::unique_ptr<Tokenizer> tok;
    if (!a.model.empty()) {
        gguf = std::make_unique<GgufFile>(GgufFile::open(a.model, FileLoad::map));
        tok = load_gguf_tokenizer(*gguf);
    }
    const ChatTemplate tmpl = open_chat_template(a.chat, gguf.get(), tok.get());
    nlohmann::ordered_json vars = read_case(a.messages);
    const nlohmann::ordered_json kwargs = chat_template_kwargs(a.chat);
    for (const auto& [k, v] : kwargs.items()) vars[k] = v;
    const std::string text = tmpl.render(vars, chat_time(a.chat));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

}  // namespace

Command add_prompt_command(CLI::App& parent) {
    auto a = std::make_shared<PromptCommandArgs>();
    CLI::App* app = parent.add_subcommand("prompt", "Print the prompt a chat template makes of a conversation");
    app->add_option("-m,--model", a->model, "GGUF file whose chat template and tokens to use (a vocabulary-only file will do)");
    app->add_option("--messages", a->messages,
                    "JSON file: {\"messages\": [...], \"add_generation_prompt\": true, \"tools\": [...], ...}")
        ->required();
    add_chat_template_options(*app, a->chat);
    return {app, [a] { return prompt(*a); }};
}

}  // namespace kiln::cli
