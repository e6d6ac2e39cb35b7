// One line of kiln batch's input: a JSON object with a prompt (or chat messages), an optional id
// and optional per-request overrides of kiln run's generation flags; or, with --plain, the
// prompt itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "engine/generation.h"

namespace kiln::cli {

struct BatchLine {
    nlohmann::json id;  // a string or an integer; the line number when the line has none
    std::string prompt;
    // Instead of a prompt: a conversation for the chat template (null when the line has a
    // prompt), and the template variables of chat_template_kwargs (an object).
    nlohmann::ordered_json messages, chat_template_kwargs;
    // A constraint on the output: GBNF text, or a JSON schema (from json_schema or OpenAI's
    // response_format); empty / null for none.
    std::string grammar;
    nlohmann::ordered_json json_schema;
    GenerationParams params;
    bool seeded = false;  // the line gave its own seed
};

// Parses line number line_no (from 1) over the defaults. Sets out.id as soon as it is known,
// so that an error can still be reported under it. Throws Error naming the problem; the
// generation settings are checked as kiln run checks its flags.
void parse_batch_line(std::string_view line, size_t line_no, bool plain, const GenerationParams& defaults,
                      BatchLine& out);

}  // namespace kiln::cli
