// OpenAI's batch format (the Batch API's, which vllm run-batch also reads): a request line
// {"custom_id", "method": "POST", "url": "/v1/chat/completions" | "/v1/completions", "body"}
// and the result line written for it.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "cmd/batch_request.h"
#include "engine/generation.h"

namespace kiln::cli {

constexpr size_t kMaxChoices = 128;  // OpenAI's limit on "n"

// Whether a parsed line is written in OpenAI's format (it has any of its top-level fields).
bool is_openai_line(const nlohmann::json& line);

// Fills out (its id, params and constraint already reset to the defaults) from an OpenAI
// line, in insertion order. Throws Error naming the field at fault.
void parse_openai_line(const nlohmann::ordered_json& line, BatchLine& out);

// The result line of a request that ran: its choices in order, the first one's prompt count.
// model: the body's model, or the name kiln reports for the file. start_inside: the chat
// prompt opened a thought (the reply's reasoning goes to reasoning_content).
nlohmann::ordered_json openai_result_line(const BatchLine& line, size_t line_no, const std::string& model,
                                          std::span<const GenerationResult> choices, std::span<const uint64_t> seeds,
                                          const Tokenizer& tok, bool start_inside);

// The line of a request that failed: code is one of invalid_json, invalid_request,
// duplicate_custom_id, context_length_exceeded.
nlohmann::ordered_json openai_error_line(const nlohmann::json& custom_id, size_t line_no, const std::string& code,
                                         const std::string& message);

}  // namespace kiln::cli
