#include "cmd/batch_request.h"

#include <map>
#include <optional>
#include <set>

#include <limits>

#include "cmd/openai_batch.h"
#include "cmd/options.h"
#include "engine/error.h"

namespace kiln::cli {

namespace {

using nlohmann::json;

float number_field(const json& v, const std::string& key) {
    if (!v.is_number()) throw Error("\"" + key + "\" must be a number");
    return v.get<float>();
}

template <typename Int>
Int integer(const json& v, const std::string& key) {
    if (!v.is_number_integer()) throw Error("\"" + key + "\" must be an integer");
    if (v.is_number_unsigned()) {
        const auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<Int>::max())) throw Error("\"" + key + "\" is too large");
        return static_cast<Int>(u);
    }
    const auto i = v.get<int64_t>();
    if (i < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
        (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<Int>::max())))
        throw Error("\"" + key + "\" is out of range");
    return static_cast<Int>(i);
}

// validate_generation, its errors naming the line's field rather than the flag.
void validate_fields(const GenerationParams& params, bool openai) {
    try {
        validate_generation(params);
    } catch (const ParamError& e) {
        static const std::map<std::string, std::string> openai_names = {{"temp", "temperature"}, {"n_predict", "max_tokens"}};
        const auto renamed = openai ? openai_names.find(e.param) : openai_names.end();
        throw Error(std::string(openai ? "body: " : "") + "\"" + (renamed != openai_names.end() ? renamed->second : e.param) +
                    "\" " + e.rule);
    }
}

}  // namespace

void apply_generation_field(const std::string& key, const json& v, BatchLine& out) {
    GenerationParams& g = out.params;
    SamplerParams& s = g.sampler;
    if (key == "n_predict") g.n_predict = integer<int>(v, key);
    else if (key == "temp") s.temp = number_field(v, key);
    else if (key == "top_k") s.top_k = integer<int>(v, key);
    else if (key == "top_p") s.top_p = number_field(v, key);
    else if (key == "min_p") s.min_p = number_field(v, key);
    else if (key == "typical") s.typical = number_field(v, key);
    else if (key == "repeat_penalty") s.repeat_penalty = number_field(v, key);
    else if (key == "repeat_last_n") s.repeat_last_n = integer<int>(v, key);
    else if (key == "frequency_penalty") s.frequency_penalty = number_field(v, key);
    else if (key == "presence_penalty") s.presence_penalty = number_field(v, key);
    else if (key == "seed") {
        if (!v.is_number_unsigned()) throw Error("\"seed\" must be a non-negative integer");
        s.seed = v.get<uint64_t>();
        out.seeded = true;
    } else if (key == "logprobs") g.n_logprobs = integer<size_t>(v, key);
    else if (key == "ignore_eos") {
        if (!v.is_boolean()) throw Error("\"ignore_eos\" must be true or false");
        g.ignore_eos = v.get<bool>();
    } else if (key == "stop") {
        g.stops.clear();
        if (v.is_string()) g.stops.push_back(v.get<std::string>());
        else if (v.is_array()) {
            for (const json& e : v) {
                if (!e.is_string()) throw Error("\"stop\" must be a string or an array of strings");
                g.stops.push_back(e.get<std::string>());
            }
        } else throw Error("\"stop\" must be a string or an array of strings");
    } else throw Error("unknown field \"" + key + "\"");
}

void apply_response_format(const nlohmann::ordered_json& rf, BatchLine& out) {
    // {"type": "json_object"} or {"type": "json_schema", "json_schema": {"schema": ...}}.
    const std::string type = rf.is_object() && rf.contains("type") && rf["type"].is_string() ? rf["type"].get<std::string>() : "";
    if (type == "json_object") out.json_schema = {{"type", "object"}};
    else if (type == "json_schema") {
        if (!rf.contains("json_schema") || !rf["json_schema"].is_object() || !rf["json_schema"].contains("schema"))
            throw Error("\"response_format\": json_schema needs {\"json_schema\": {\"schema\": ...}}");
        out.json_schema = rf["json_schema"]["schema"];
    } else if (type != "text") throw Error("\"response_format\" type must be text, json_object or json_schema");
}

void parse_batch_line(std::string_view line, size_t line_no, bool plain, const GenerationParams& defaults,
                      BatchLine& out) {
    out.format = LineFormat::kiln;
    out.id = line_no;
    out.model.clear();
    out.n_choices = 1;
    out.params = defaults;
    out.seeded = false;
    out.messages = nullptr;
    out.chat_template_kwargs = nlohmann::ordered_json::object();
    out.grammar.clear();
    out.json_schema = nullptr;
    if (plain) {
        out.prompt = line;
        return;
    }
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) throw Error("not valid JSON");
    if (!j.is_object()) throw Error("not a JSON object");
    if (is_openai_line(j)) {
        // Known as OpenAI's before anything can fail, so that an error line takes its shape.
        out.format = LineFormat::completion;
        if (j.contains("custom_id") && j["custom_id"].is_string()) out.id = j["custom_id"];
        parse_openai_line(nlohmann::ordered_json::parse(line), out);
        validate_fields(out.params, true);
        return;
    }
    if (const auto id = j.find("id"); id != j.end()) {
        if (!id->is_string() && !id->is_number_integer()) throw Error("\"id\" must be a string or an integer");
        out.id = *id;
    }
    // The line again in insertion order, for what templates and grammars see in it (a tool's
    // parameters rendered as JSON, a schema's property order); parsed once, when needed.
    std::optional<nlohmann::ordered_json> in_order;
    const auto ordered = [&]() -> const nlohmann::ordered_json& {
        if (!in_order) in_order = nlohmann::ordered_json::parse(line);
        return *in_order;
    };
    const auto prompt = j.find("prompt");
    const bool chat = j.contains("messages");
    if (prompt == j.end() && !chat) throw Error("no \"prompt\" or \"messages\"");
    if (prompt != j.end() && chat) throw Error("\"prompt\" and \"messages\" exclude each other");
    if (chat) {
        out.messages = ordered()["messages"];
        if (!out.messages.is_array() || out.messages.empty()) throw Error("\"messages\" must be a non-empty array");
        for (const auto& m : out.messages)
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
                throw Error("each of \"messages\" must be an object with a \"role\" string");
        if (ordered().contains("chat_template_kwargs")) {
            out.chat_template_kwargs = ordered()["chat_template_kwargs"];
            if (!out.chat_template_kwargs.is_object()) throw Error("\"chat_template_kwargs\" must be an object");
        }
    } else {
        if (!prompt->is_string()) throw Error("\"prompt\" must be a string");
        out.prompt = prompt->get<std::string>();
    }
    if (j.contains("grammar") || j.contains("json_schema") || j.contains("response_format")) {
        if (j.contains("grammar") + j.contains("json_schema") + j.contains("response_format") > 1)
            throw Error("\"grammar\", \"json_schema\" and \"response_format\" exclude each other");
        const nlohmann::ordered_json& o = ordered();
        if (o.contains("grammar")) {
            if (!o["grammar"].is_string()) throw Error("\"grammar\" must be a string of GBNF");
            out.grammar = o["grammar"].get<std::string>();
        } else if (o.contains("json_schema")) {
            out.json_schema = o["json_schema"];
        } else {
            apply_response_format(o["response_format"], out);
        }
    }
    static const std::set<std::string> own = {"id", "prompt", "messages", "chat_template_kwargs", "grammar", "json_schema", "response_format"};
    for (const auto& [key, value] : j.items())
        if (!own.count(key)) apply_generation_field(key, value, out);
    validate_fields(out.params, false);
}

}  // namespace kiln::cli
