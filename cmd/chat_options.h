// The options that choose and feed a chat template, shared by kiln prompt, run --chat, chat
// and batch.
#pragma once

#include <CLI/CLI.hpp>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/chat.h"

namespace kiln {
class GgufFile;
class Tokenizer;
}

namespace kiln::cli {

struct ChatTemplateArgs {
    std::string name;    // --chat-template: a built-in one
    std::string file;    // --chat-template-file
    std::string kwargs;  // --chat-template-kwargs: a JSON object of variables
    std::string now;     // --now "YYYY-MM-DD HH:MM:SS": what strftime_now() formats
};

// --chat-template NAME, --chat-template-file FILE, --chat-template-kwargs JSON, --now.
void add_chat_template_options(CLI::App& app, ChatTemplateArgs& args);

// The template the options name, else the model's (gguf may be null with a name or file). Its
// bos_token / eos_token are the model's tokens, or empty without a model. Throws Error.
ChatTemplate open_chat_template(const ChatTemplateArgs& args, const GgufFile* gguf, const Tokenizer* tokenizer);

// --chat-template-kwargs as an object (empty without the option). Throws Error.
nlohmann::ordered_json chat_template_kwargs(const ChatTemplateArgs& args);

// A JSON file's value. Throws Error naming the file.
nlohmann::ordered_json read_json_file(const std::string& path);

// A conversation from a JSON file: an array of messages, or an object with "messages" (what
// kiln prompt, /save and --messages take). Throws Error.
nlohmann::ordered_json read_messages(const std::string& path);

// --now, or the local time.
std::tm chat_time(const ChatTemplateArgs& args);

}  // namespace kiln::cli
