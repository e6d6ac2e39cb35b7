// One line of kiln batch's input: a JSON object with a prompt (or chat messages), an optional id
// and optional per-request overrides of kiln run's generation flags; an OpenAI batch line
// ({"custom_id", "method", "url", "body"}, cmd/openai_batch.h); or, with --plain, the prompt itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "engine/generation.h"

namespace kiln::cli {

// How a line was written, and so how its result is: kiln's own shape, or OpenAI's chat
// completion or completion.
enum class LineFormat { kiln, chat_completion, completion };

struct BatchLine {
    LineFormat format = LineFormat::kiln;
    // kiln: a string or an integer, the line number when the line has none; OpenAI: custom_id.
    nlohmann::json id;
    std::string model;     // OpenAI: the body's "model", "" when it has none
    size_t n_choices = 1;  // OpenAI's "n": completions drawn for the prompt, seeds seed, seed + 1, ...
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

// Parses line number line_no (from 1) over the defaults; either format. Sets out.id as soon as it is known,
// so that an error can still be reported under it. Throws Error naming the problem; the
// generation settings are checked as kiln run checks its flags.
void parse_batch_line(std::string_view line, size_t line_no, bool plain, const GenerationParams& defaults,
                      BatchLine& out);

// Shared by both formats: a field of kiln run's generation settings (n_predict, temp, top_k,
// ..., seed, stop, logprobs, ignore_eos) into out; Error for a field it does not know.
void apply_generation_field(const std::string& key, const nlohmann::json& value, BatchLine& out);
// A constraint from OpenAI's response_format ({"type": "text" | "json_object" | "json_schema"}).
void apply_response_format(const nlohmann::ordered_json& response_format, BatchLine& out);

}  // namespace kiln::cli
