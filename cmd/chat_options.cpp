#include "cmd/chat_options.h"

#include <fstream>
#include <sstream>

#include "engine/gguf.h"
#include "engine/model.h"

namespace kiln::cli {

void add_chat_template_options(CLI::App& app, ChatTemplateArgs& args) {
    std::string names;
    for (std::string_view n : builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + std::string(n);
    app.add_option("--chat-template", args.name, "A built-in chat template instead of the model's: " + names);
    app.add_option("--chat-template-file", args.file, "A Jinja chat template file instead of the model's");
    app.add_option("--chat-template-kwargs", args.kwargs, "A JSON object of template variables, e.g. '{\"enable_thinking\": false}'");
    app.add_option("--now", args.now, "The time strftime_now() gives templates, \"YYYY-MM-DD HH:MM:SS\" (default: now)");
}

ChatTemplate open_chat_template(const ChatTemplateArgs& args, const GgufFile* gguf, const Tokenizer* tok) {
    if (!args.name.empty() && !args.file.empty()) throw Error("--chat-template and --chat-template-file exclude each other");
    std::string bos, eos;
    if (tok != nullptr) {
        const auto text = [&](Token id) {
            return id >= 0 && static_cast<size_t>(id) < tok->n_vocab() ? tok->token_piece(id) : std::string();
        };
        bos = text(tok->bos());
        eos = text(tok->eos());
    }
    if (!args.file.empty()) {
        std::ifstream in(args.file, std::ios::binary);
        if (!in) throw Error("cannot read --chat-template-file " + args.file);
        std::ostringstream s;
        s << in.rdbuf();
        return ChatTemplate(s.str(), bos, eos);
    }
    if (!args.name.empty()) return ChatTemplate(builtin_chat_template(args.name), bos, eos);
    if (gguf == nullptr) throw Error("no chat template: give -m MODEL, --chat-template NAME or --chat-template-file FILE");
    const auto source = gguf_chat_template(*gguf);
    if (!source) {
        std::string names;
        for (std::string_view n : builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + std::string(n);
        throw Error("the model has no chat template (tokenizer.chat_template): choose one with --chat-template (" + names +
                    ") or --chat-template-file");
    }
    return ChatTemplate(*source, bos, eos);
}

nlohmann::ordered_json chat_template_kwargs(const ChatTemplateArgs& args) {
    if (args.kwargs.empty()) return nlohmann::ordered_json::object();
    nlohmann::ordered_json j;
    try {
        j = nlohmann::ordered_json::parse(args.kwargs);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(std::string("--chat-template-kwargs is not JSON: ") + e.what());
    }
    if (!j.is_object()) throw Error("--chat-template-kwargs must be a JSON object");
    return j;
}

nlohmann::ordered_json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    try {
        return nlohmann::ordered_json::parse(s.str());
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(path + " is not JSON: " + e.what());
    }
}

nlohmann::ordered_json read_messages(const std::string& path) {
    nlohmann::ordered_json j = read_json_file(path);
    if (j.is_object() && j.contains("messages")) j = j["messages"];
    if (!j.is_array()) throw Error(path + ": expected an array of messages or an object with \"messages\"");
    for (const auto& m : j)
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            throw Error(path + ": each message must be an object with a \"role\"");
    return j;
}

std::tm chat_time(const ChatTemplateArgs& args) {
    if (args.now.empty()) return ChatTemplate::local_now();
    std::tm t{};
    const char* end = strptime(args.now.c_str(), "%Y-%m-%d %H:%M:%S", &t);
    if (end == nullptr || *end != '\0') throw Error("--now must be \"YYYY-MM-DD HH:MM:SS\", not '" + args.now + "'");
    t.tm_isdst = -1;
    std::tm copy = t;
    if (mktime(&copy) != -1) t.tm_wday = copy.tm_wday, t.tm_yday = copy.tm_yday;  // the weekday %a / %A name
    return t;
}

}  // namespace kiln::cli
