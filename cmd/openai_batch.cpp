#include "cmd/openai_batch.h"

#include <ctime>
#include <set>

#include "engine/error.h"
#include "engine/reasoning.h"

namespace kiln::cli {

namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kMaxTopLogprobs = 20;

size_t count(const Json& v, const std::string& key, size_t lo, size_t hi) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
        throw Error("\"" + key + "\" must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return v.get<size_t>();
}

void parse_body(const Json& body, bool chat, BatchLine& out) {
    if (!body.is_object()) throw Error("\"body\" must be an object");
    static const std::set<std::string> ignored = {"user", "store", "metadata", "service_tier", "parallel_tool_calls",
                                                  "stream_options"};
    bool logprobs = false;
    const Json* top_logprobs = nullptr;
    for (const auto& [key, v] : body.items()) {
        if (ignored.count(key) || v.is_null()) continue;  // null: the default, as OpenAI takes it
        if (key == "model") {
            if (!v.is_string()) throw Error("\"model\" must be a string");
            out.model = v.get<std::string>();
        } else if (key == "messages" && chat) {
            out.messages = v;
            if (!v.is_array() || v.empty()) throw Error("\"messages\" must be a non-empty array");
            for (const auto& m : v)
                if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
                    throw Error("each of \"messages\" must be an object with a \"role\" string");
        } else if (key == "prompt" && !chat) {
            // A string, or a list of one (several prompts in one request are several lines here).
            const Json& p = v.is_array() && v.size() == 1 ? v[0] : v;
            if (!p.is_string()) throw Error("\"prompt\" must be a string (or a list of one string)");
            out.prompt = p.get<std::string>();
        } else if (key == "max_tokens" || key == "max_completion_tokens") {
            out.params.n_predict = static_cast<long>(count(v, key, 0, 1u << 30));
        } else if (key == "temperature") {
            apply_generation_field("temp", nlohmann::json(v), out);
        } else if (key == "n") {
            out.n_choices = count(v, key, 1, kMaxChoices);
        } else if (key == "logprobs") {
            if (chat) {
                if (!v.is_boolean()) throw Error("\"logprobs\" must be true or false");
                logprobs = v.get<bool>();
            } else {
                out.params.n_logprobs = count(v, key, 0, kMaxTopLogprobs);
                logprobs = true;
            }
        } else if (key == "top_logprobs" && chat) {
            top_logprobs = &v;
        } else if (key == "response_format") {
            apply_response_format(v, out);
        } else if (key == "chat_template_kwargs" && chat) {
            if (!v.is_object()) throw Error("\"chat_template_kwargs\" must be an object");
            for (const auto& [k, x] : v.items()) out.chat_template_kwargs[k] = x;
        } else if (key == "tools" && chat) {
            out.chat_template_kwargs["tools"] = v;  // for the template, as vLLM passes them
        } else if (key == "stream") {
            if (!v.is_boolean() || v.get<bool>()) throw Error("\"stream\" cannot be true in a batch");
        } else if (key == "grammar") {
            if (!v.is_string()) throw Error("\"grammar\" must be a string of GBNF");
            out.grammar = v.get<std::string>();
        } else if (key == "json_schema") {
            out.json_schema = v;
        } else if (key == "messages" || key == "prompt" || key == "top_logprobs" || key == "chat_template_kwargs" ||
                   key == "tools") {
            throw Error("\"" + key + "\" belongs to " + (chat ? "/v1/completions" : "/v1/chat/completions") + " requests");
        } else {
            apply_generation_field(key, nlohmann::json(v), out);  // kiln's own fields
        }
    }
    if (top_logprobs) {
        if (!logprobs) throw Error("\"top_logprobs\" needs \"logprobs\": true");
        out.params.n_logprobs = count(*top_logprobs, "top_logprobs", 0, kMaxTopLogprobs);
    }
    out.params.token_logprobs = logprobs;
    if (chat && out.messages.is_null()) throw Error("a chat completion needs \"messages\"");
    if (!chat && !body.contains("prompt")) throw Error("a completion needs \"prompt\"");
    if (body.contains("grammar") + body.contains("json_schema") + body.contains("response_format") > 1)
        throw Error("\"grammar\", \"json_schema\" and \"response_format\" exclude each other");
}

nlohmann::json bytes_of(const std::string& s) {
    nlohmann::json b = nlohmann::json::array();
    for (unsigned char c : s) b.push_back(c);
    return b;
}

// OpenAI's chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
Json chat_logprobs(const Tokenizer& tok, const std::vector<GeneratedToken>& tokens) {
    const auto one = [&](Token id, float logprob) {
        const std::string& text = tok.token_text(id);
        return Json{{"token", text}, {"logprob", logprob}, {"bytes", bytes_of(text)}};
    };
    Json content = Json::array();
    for (const GeneratedToken& t : tokens) {
        Json j = one(t.id, t.logprob);
        j["top_logprobs"] = Json::array();
        for (const TokenLogprob& alt : t.top) j["top_logprobs"].push_back(one(alt.id, alt.logprob));
        content.push_back(std::move(j));
    }
    return {{"content", std::move(content)}};
}

// OpenAI's completion logprobs: parallel lists, and each position's alternatives as a map.
Json completion_logprobs(const Tokenizer& tok, const std::vector<GeneratedToken>& tokens) {
    Json out = {{"tokens", Json::array()}, {"token_logprobs", Json::array()}, {"top_logprobs", Json::array()},
                {"text_offset", Json::array()}};
    size_t offset = 0;
    for (const GeneratedToken& t : tokens) {
        const std::string& text = tok.token_text(t.id);
        out["tokens"].push_back(text);
        out["token_logprobs"].push_back(t.logprob);
        Json top = Json::object();
        for (const TokenLogprob& alt : t.top) top[tok.token_text(alt.id)] = alt.logprob;
        out["top_logprobs"].push_back(std::move(top));
        out["text_offset"].push_back(offset);
        offset += text.size();
    }
    return out;
}

const char* finish_name(FinishReason f) { return f == FinishReason::length ? "length" : "stop"; }

}  // namespace

bool is_openai_line(const nlohmann::json& line) {
    return line.contains("custom_id") || line.contains("body") || line.contains("url") || line.contains("method");
}

void parse_openai_line(const Json& line, BatchLine& out) {
    for (const auto& [key, v] : line.items())
        if (key != "custom_id" && key != "method" && key != "url" && key != "body")
            throw Error("unknown field \"" + key + "\" (an OpenAI batch line has custom_id, method, url and body)");
    if (!line.contains("custom_id") || !line["custom_id"].is_string()) throw Error("\"custom_id\" must be a string");
    out.id = line["custom_id"].get<std::string>();
    if (line.contains("method") && line["method"] != "POST") throw Error("\"method\" must be \"POST\"");
    const std::string url = line.contains("url") && line["url"].is_string() ? line["url"].get<std::string>() : "";
    if (url == "/v1/chat/completions") out.format = LineFormat::chat_completion;
    else if (url == "/v1/completions") out.format = LineFormat::completion;
    else throw Error("\"url\" must be \"/v1/chat/completions\" or \"/v1/completions\"");
    if (!line.contains("body")) throw Error("no \"body\"");
    try {
        parse_body(line["body"], out.format == LineFormat::chat_completion, out);
    } catch (const Error& e) {
        throw Error(std::string("body: ") + e.what());
    }
}

Json openai_result_line(const BatchLine& line, size_t line_no, const std::string& model,
                        std::span<const GenerationResult> choices, std::span<const uint64_t> seeds, const Tokenizer& tok,
                        bool start_inside) {
    const bool chat = line.format == LineFormat::chat_completion;
    const std::string n = std::to_string(line_no);
    Json out_choices = Json::array();
    size_t completion_tokens = 0;
    for (size_t c = 0; c < choices.size(); ++c) {
        const GenerationResult& r = choices[c];
        completion_tokens += r.tokens.size();
        Json choice = {{"index", c}};
        if (chat) {
            const SplitReply split = split_reasoning(r.text, start_inside);
            choice["message"] = {{"role", "assistant"}, {"content", split.content}};
            if (split.has_reasoning) choice["message"]["reasoning_content"] = split.reasoning;
        } else {
            choice["text"] = r.text;
        }
        choice["logprobs"] = !line.params.token_logprobs ? Json(nullptr)
                             : chat                      ? chat_logprobs(tok, r.tokens)
                                                         : completion_logprobs(tok, r.tokens);
        choice["finish_reason"] = finish_name(r.finish);
        choice["seed"] = seeds[c];  // kiln's: kiln run --seed gives this choice again
        out_choices.push_back(std::move(choice));
    }
    const size_t prompt_tokens = choices.empty() ? 0 : choices[0].prompt_tokens;
    Json body = {{"id", (chat ? "chatcmpl-" : "cmpl-") + n},
                 {"object", chat ? "chat.completion" : "text_completion"},
                 {"created", static_cast<int64_t>(std::time(nullptr))},
                 {"model", model},
                 {"choices", std::move(out_choices)},
                 {"usage",
                  {{"prompt_tokens", prompt_tokens},
                   {"completion_tokens", completion_tokens},
                   {"total_tokens", prompt_tokens + completion_tokens}}}};
    return {{"id", "batch_req_" + n},
            {"custom_id", line.id},
            {"line", line_no},
            {"response", {{"status_code", 200}, {"request_id", "req_" + n}, {"body", std::move(body)}}},
            {"error", nullptr}};
}

Json openai_error_line(const nlohmann::json& custom_id, size_t line_no, const std::string& code, const std::string& message) {
    const std::string n = std::to_string(line_no);
    return {{"id", "batch_req_" + n},
            {"custom_id", custom_id},
            {"line", line_no},
            {"response", nullptr},
            {"error", {{"code", code}, {"message", message}}}};
}

}  // namespace kiln::cli
