#include "engine/chat.h"

#include <array>

#include "engine/gguf.h"

namespace kiln {

namespace {

// kiln's own texts of the common prompt formats, for files that carry no template. Strings are
// built inside expressions so that the layout of the template text does not matter.
struct Builtin {
    std::string_view name, source;
};
constexpr std::array<Builtin, 7> kBuiltins = {{
    {"chatml",
     R"({% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endfor %})"
     R"({% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})"},
    {"llama2",
     R"({% if messages and messages[0].role == 'system' %}{% set sys = messages[0].content %}{% set turns = messages[1:] %})"
     R"({% else %}{% set sys = '' %}{% set turns = messages %}{% endif %})"
     R"({% for m in turns %}{% if m.role == 'user' %}{{ bos_token + '[INST] ' }})"
     R"({% if loop.first and sys %}{{ '<<SYS>>\n' + sys + '\n<</SYS>>\n\n' }}{% endif %}{{ m.content | trim + ' [/INST]' }})"
     R"({% elif m.role == 'assistant' %}{{ ' ' + m.content | trim + ' ' + eos_token }}{% endif %}{% endfor %})"},
    {"llama3",
     R"({{ bos_token }}{% for m in messages %})"
     R"({{ '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + m.content | trim + '<|eot_id|>' }}{% endfor %})"
     R"({% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})"},
    {"mistral",
     R"({% set ns = namespace(sys='') %}{% for m in messages if m.role == 'system' %}{% set ns.sys = m.content + '\n\n' %}{% endfor %})"
     R"({{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ '[INST] ' + ns.sys + m.content + '[/INST]' }})"
     R"({% set ns.sys = '' %}{% elif m.role == 'assistant' %}{{ m.content + eos_token }}{% endif %}{% endfor %})"},
    {"gemma",
     R"({% set ns = namespace(sys='') %}{% for m in messages if m.role == 'system' %}{% set ns.sys = m.content + '\n\n' %}{% endfor %})"
     R"({{ bos_token }}{% for m in messages if m.role != 'system' %})"
     R"({{ '<start_of_turn>' + ('model' if m.role == 'assistant' else 'user') + '\n' + ns.sys + m.content | trim + '<end_of_turn>\n' }})"
     R"({% set ns.sys = '' %}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %})"},
    {"phi3",
     R"({% for m in messages %}{{ '<|' + m.role + '|>\n' + m.content + '<|end|>\n' }}{% endfor %})"
     R"({% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %})"},
    {"deepseek",
     R"({{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }})"
     R"({% elif m.role == 'user' %}{{ '<\uff5cUser\uff5c>' + m.content }})"
     R"({% elif m.role == 'assistant' %}{{ '<\uff5cAssistant\uff5c>' + m.content + '<\uff5cend\u2581of\u2581sentence\uff5c>' }})"
     R"({% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<\uff5cAssistant\uff5c><think>\n' }}{% endif %})"},
}};

constexpr auto kNames = [] {
    std::array<std::string_view, kBuiltins.size()> n{};
    for (size_t i = 0; i < kBuiltins.size(); ++i) n[i] = kBuiltins[i].name;
    return n;
}();

std::string with_line(const std::string& what, const jinja::Error& e) {
    return e.line() > 0 ? what + ", line " + std::to_string(e.line()) + ": " + e.what() : what + ": " + e.what();
}

}  // namespace

std::span<const std::string_view> builtin_chat_template_names() { return kNames; }

std::string_view builtin_chat_template(std::string_view name) {
    for (const Builtin& b : kBuiltins)
        if (b.name == name) return b.source;
    std::string list;
    for (std::string_view n : kNames) list += (list.empty() ? "" : ", ") + std::string(n);
    throw Error("no built-in chat template '" + std::string(name) + "' (built-in: " + list + ")");
}

std::optional<std::string> gguf_chat_template(const GgufFile& gguf) {
    const auto t = gguf.get_string("tokenizer.chat_template");
    if (!t) return std::nullopt;
    return std::string(*t);
}

ChatTemplate::ChatTemplate(std::string_view source, std::string bos, std::string eos) try
    : template_(source), bos_(std::move(bos)), eos_(std::move(eos)) {
} catch (const jinja::Error& e) {
    throw Error(with_line("chat template", e));
}

std::string ChatTemplate::render(nlohmann::ordered_json variables, const std::tm& now) const {
    if (!variables.is_object()) throw Error("chat template variables must be a JSON object");
    if (!variables.contains("add_generation_prompt")) variables["add_generation_prompt"] = true;
    if (!variables.contains("bos_token")) variables["bos_token"] = bos_;
    if (!variables.contains("eos_token")) variables["eos_token"] = eos_;
    jinja::RenderOptions options;
    options.now = now;
    try {
        return template_.render(variables, options);
    } catch (const jinja::Raised& e) {
        throw Error(std::string("the chat template raised: ") + e.what());
    } catch (const jinja::Error& e) {
        throw Error(with_line("chat template", e));
    }
}

std::tm ChatTemplate::local_now() {
    const std::time_t t = std::time(nullptr);
    std::tm out{};
    localtime_r(&t, &out);
    return out;
}

}  // namespace kiln
