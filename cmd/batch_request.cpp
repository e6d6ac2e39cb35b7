#include "cmd/batch_request.h"

#include <limits>

#include "cmd/options.h"
#include "engine/error.h"

namespace kiln::cli {

namespace {

using nlohmann::json;

float number(const json& v, const std::string& key) {
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

void apply_override(const std::string& key, const json& v, BatchLine& out) {
    GenerationParams& g = out.params;
    SamplerParams& s = g.sampler;
    if (key == "n_predict") g.n_predict = integer<int>(v, key);
    else if (key == "temp") s.temp = number(v, key);
    else if (key == "top_k") s.top_k = integer<int>(v, key);
    else if (key == "top_p") s.top_p = number(v, key);
    else if (key == "min_p") s.min_p = number(v, key);
    else if (key == "typical") s.typical = number(v, key);
    else if (key == "repeat_penalty") s.repeat_penalty = number(v, key);
    else if (key == "repeat_last_n") s.repeat_last_n = integer<int>(v, key);
    else if (key == "frequency_penalty") s.frequency_penalty = number(v, key);
    else if (key == "presence_penalty") s.presence_penalty = number(v, key);
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

}  // namespace

void parse_batch_line(std::string_view line, size_t line_no, bool plain, const GenerationParams& defaults,
                      BatchLine& out) {
    out.id = line_no;
    out.params = defaults;
    out.seeded = false;
    if (plain) {
        out.prompt = line;
        return;
    }
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) throw Error("not valid JSON");
    if (!j.is_object()) throw Error("not a JSON object");
    if (const auto id = j.find("id"); id != j.end()) {
        if (!id->is_string() && !id->is_number_integer()) throw Error("\"id\" must be a string or an integer");
        out.id = *id;
    }
    const auto prompt = j.find("prompt");
    if (prompt == j.end()) throw Error("no \"prompt\"");
    if (!prompt->is_string()) throw Error("\"prompt\" must be a string");
    out.prompt = prompt->get<std::string>();
    for (const auto& [key, value] : j.items())
        if (key != "id" && key != "prompt") apply_override(key, value, out);
    validate_generation(out.params);
}

}  // namespace kiln::cli
