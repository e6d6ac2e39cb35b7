// Chat prompts: a model's own Jinja chat template (tokenizer.chat_template), a built-in one by
// name, or a template file, rendered as Hugging Face renders them (jinja/).
#pragma once

#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "jinja/template.h"

namespace kiln {

class GgufFile;
class Tokenizer;

// The names of the built-in templates (chatml, llama2, llama3, mistral, gemma, phi3, deepseek).
std::span<const std::string_view> builtin_chat_template_names();
// A built-in template's source. Throws Error listing the names for an unknown one.
std::string_view builtin_chat_template(std::string_view name);
// The template a GGUF file carries, if any.
std::optional<std::string> gguf_chat_template(const GgufFile& gguf);

class ChatTemplate {
public:
    // bos / eos: the texts of the model's tokens, the template's bos_token and eos_token unless
    // the variables set them. Throws Error ("chat template, line N: ...") when it does not parse.
    ChatTemplate(std::string_view source, std::string bos, std::string eos);

    // The prompt for `variables` (messages, add_generation_prompt (default true), tools and
    // anything else the template reads). Throws Error with the template's own message where
    // it raises, or what went wrong.
    std::string render(nlohmann::ordered_json variables, const std::tm& now) const;

    // The local time now, for strftime_now().
    static std::tm local_now();

private:
    jinja::Template template_;
    std::string bos_, eos_;
};

}  // namespace kiln
