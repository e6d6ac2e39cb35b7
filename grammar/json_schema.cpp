#include "grammar/json_schema.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace grammar {

namespace {

using json = nlohmann::ordered_json;

// Keywords that only describe: accepted and ignored.
const std::set<std::string> kAnnotations = {"title", "description", "$schema", "$id", "$comment", "default", "examples",
                                            "deprecated", "readOnly", "writeOnly", "$defs", "definitions"};

// The GBNF literal of a string (its UTF-8 bytes as they are, the syntax's specials escaped).
std::string literal(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    return out + "\"";
}

// The decimal digits of non-negative integers lo..hi of equal length, as GBNF.
std::string same_length(const std::string& a, const std::string& b) {
    if (a == b) return literal(a);
    size_t p = 0;
    while (a[p] == b[p]) ++p;
    const std::string prefix = p ? literal(a.substr(0, p)) + " " : "";
    const char x = a[p], y = b[p];
    const size_t rest = a.size() - p - 1;
    const std::string any = rest ? " [0-9]{" + std::to_string(rest) + "}" : "";
    const std::string a_rest = a.substr(p + 1), b_rest = b.substr(p + 1);
    if (a_rest.find_first_not_of('0') == std::string::npos && b_rest.find_first_not_of('9') == std::string::npos)
        return prefix + "[" + std::string(1, x) + "-" + std::string(1, y) + "]" + any;
    std::vector<std::string> alts;
    alts.push_back(literal(std::string(1, x)) + (rest ? " (" + same_length(a_rest, std::string(rest, '9')) + ")" : ""));
    if (x + 1 <= y - 1) alts.push_back("[" + std::string(1, static_cast<char>(x + 1)) + "-" + std::string(1, static_cast<char>(y - 1)) + "]" + any);
    alts.push_back(literal(std::string(1, y)) + (rest ? " (" + same_length(std::string(rest, '0'), b_rest) + ")" : ""));
    std::string out;
    for (const auto& s : alts) out += (out.empty() ? "" : " | ") + s;
    return prefix + "(" + out + ")";
}

// Non-negative integers lo..hi (hi < 0: unbounded), without leading zeros.
std::string natural_range(int64_t lo, int64_t hi) {
    std::vector<std::string> alts;
    const std::string slo = std::to_string(lo);
    const size_t max_digits = hi < 0 ? 18 : std::to_string(hi).size();
    for (size_t d = slo.size(); d <= max_digits; ++d) {
        const std::string first = d == slo.size() ? slo : "1" + std::string(d - 1, '0');
        std::string last = std::string(d, '9');
        if (hi >= 0 && d == max_digits) last = std::to_string(hi);
        if (first.size() != last.size() || first > last) continue;
        alts.push_back(same_length(first, last));
    }
    if (hi < 0) alts.push_back("[1-9] [0-9]{18,}");  // past 18 digits, unbounded above
    std::string out;
    for (const auto& s : alts) out += (out.empty() ? "" : " | ") + s;
    return "(" + out + ")";
}

class Converter {
public:
    explicit Converter(const json& root) : root_(root) {
        rules_["ws"] = "(\" \" | \"\\n\" [ \\t]{0,20})?";  // nothing, a space, or a line break and indentation
        rules_["string"] = "\"\\\"\" char* \"\\\"\"";
        rules_["char"] = "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})";
        rules_["integer"] = "\"-\"? (\"0\" | [1-9] [0-9]{0,17})";
        rules_["number"] = "\"-\"? (\"0\" | [1-9] [0-9]{0,17}) (\".\" [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?";
        rules_["boolean"] = "\"true\" | \"false\"";
        rules_["null"] = "\"null\"";
        rules_["value"] = "object | array | string | number | boolean | null";
        rules_["object"] = "\"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"";
        rules_["array"] = "\"[\" ws (value ws (\",\" ws value ws)*)? \"]\"";
    }

    std::string run() {
        rules_["root"] = visit(root_, "/");
        std::string out;
        for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& path, const std::string& what) const {
        throw Error("json schema at " + path + ": " + what);
    }

    std::string new_rule(const std::string& body) {
        const std::string name = "r" + std::to_string(++count_);
        rules_[name] = body;
        return name;
    }

    static std::string join(const std::vector<std::string>& parts, const char* sep) {
        std::string out;
        for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
        return out;
    }

    // The definition a $ref names, with its path in the schema.
    std::pair<const json*, std::string> definition(const json& ref, const std::string& path) const {
        if (!ref.is_string()) fail(path, "$ref must be a string");
        const std::string target = ref.get<std::string>();
        for (const std::string pre : {"#/$defs/", "#/definitions/"}) {
            if (target.rfind(pre, 0) != 0) continue;
            const std::string key = pre.substr(2, pre.size() - 3), name = target.substr(pre.size());
            if (!root_.contains(key) || !root_[key].contains(name)) fail(path, "$ref " + target + " names no definition");
            return {&root_[key][name], "/" + key + "/" + name};
        }
        fail(path, "$ref " + target + ": only #/$defs/NAME and #/definitions/NAME are supported");
    }

    std::string ref(const json& target, const std::string& path) {
        const auto [def, def_path] = definition(target, path);
        if (const auto it = refs_.find(def_path); it != refs_.end()) return it->second;
        const std::string rule = "ref" + std::to_string(++count_);
        refs_[def_path] = rule;  // before visiting: a recursive definition refers to itself
        rules_[rule] = visit(*def, def_path);
        return rule;
    }

    std::string visit(const json& s, const std::string& path) {
        if (s.is_boolean()) {
            if (!s.get<bool>()) fail(path, "the schema false accepts nothing");
            return "value";
        }
        if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
        for (const auto& [k, v] : s.items()) {
            static const std::set<std::string> known = {"type", "properties", "required", "additionalProperties", "enum", "const",
                                                        "items", "prefixItems", "minItems", "maxItems", "anyOf", "oneOf", "allOf",
                                                        "$ref", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                                                        "exclusiveMinimum", "exclusiveMaximum"};
            if (!known.count(k) && !kAnnotations.count(k)) fail(path, "keyword \"" + k + "\" is not supported (kiln cannot enforce it)");
        }
        if (s.contains("$ref")) return ref(s["$ref"], path + "$ref");
        if (s.contains("const")) return literal(s["const"].dump());
        if (s.contains("enum")) {
            if (!s["enum"].is_array() || s["enum"].empty()) fail(path + "enum", "must be a non-empty array");
            std::vector<std::string> alts;
            for (const auto& v : s["enum"]) alts.push_back(literal(v.dump()));
            return "(" + join(alts, " | ") + ")";
        }
        for (const char* k : {"anyOf", "oneOf"})
            if (s.contains(k)) {
                if (!s[k].is_array() || s[k].empty()) fail(path + k, "must be a non-empty array");
                std::vector<std::string> alts;
                for (size_t i = 0; i < s[k].size(); ++i) alts.push_back(new_rule(visit(merged(s, s[k][i], k), path + k + "/" + std::to_string(i) + "/")));
                return "(" + join(alts, " | ") + ")";
            }
        if (s.contains("allOf")) {
            if (!s["allOf"].is_array()) fail(path + "allOf", "must be an array");
            json all = s;
            all.erase("allOf");
            for (size_t i = 0; i < s["allOf"].size(); ++i) {
                json part = s["allOf"][i];
                if (part.is_object() && part.contains("$ref")) part = *definition(part["$ref"], path + "allOf/" + std::to_string(i)).first;
                all = merge_objects(all, part, path + "allOf/" + std::to_string(i) + "/");
            }
            return visit(all, path);
        }
        if (!s.contains("type")) {
            if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) return object(s, path);
            if (s.contains("items") || s.contains("prefixItems")) return array(s, path);
            return "value";
        }
        const json& t = s["type"];
        if (t.is_array()) {
            std::vector<std::string> alts;
            for (const auto& one : t) {
                json single = s;
                single["type"] = one;
                alts.push_back(new_rule(visit(single, path)));
            }
            if (alts.empty()) fail(path + "type", "an empty list of types accepts nothing");
            return "(" + join(alts, " | ") + ")";
        }
        if (!t.is_string()) fail(path + "type", "must be a string or an array of strings");
        const std::string type = t.get<std::string>();
        if (type == "object") return object(s, path);
        if (type == "array") return array(s, path);
        if (type == "string") return string(s, path);
        if (type == "integer") return integer(s, path);
        if (type == "number") return number(s, path);
        if (type == "boolean") return "boolean";
        if (type == "null") return "null";
        fail(path + "type", "unknown type \"" + type + "\"");
    }

    // An anyOf / oneOf branch with the keywords beside the anyOf (e.g. a shared type).
    static json merged(const json& outer, const json& branch, const char* key) {
        json m = outer;
        m.erase(key);
        if (!branch.is_object()) return branch;
        for (const auto& [k, v] : branch.items()) m[k] = v;
        return m;
    }

    json merge_objects(json a, const json& b, const std::string& path) {
        if (!b.is_object()) fail(path, "allOf parts must be schemas");
        for (const auto& [k, v] : b.items()) {
            if (k == "properties") {
                for (const auto& [pk, pv] : v.items()) a["properties"][pk] = pv;
            } else if (k == "required") {
                for (const auto& r : v) a["required"].push_back(r);
            } else if (k == "type") {
                if (a.contains("type") && a["type"] != v) fail(path + "type", "allOf parts of different types");
                a["type"] = v;
            } else if (kAnnotations.count(k)) {
            } else if (!a.contains(k)) a[k] = v;
            else if (a[k] != v) fail(path + k, "allOf parts disagree on \"" + k + "\"");
        }
        return a;
    }

    std::string object(const json& s, const std::string& path) {
        const json props = s.value("properties", json::object());
        if (!props.is_object()) fail(path + "properties", "must be an object");
        std::set<std::string> required;
        if (s.contains("required")) {
            if (!s["required"].is_array()) fail(path + "required", "must be an array");
            for (const auto& r : s["required"]) {
                if (!r.is_string()) fail(path + "required", "must list strings");
                if (!props.contains(r.get<std::string>())) fail(path + "required", "\"" + r.get<std::string>() + "\" is required but not among the properties");
                required.insert(r.get<std::string>());
            }
        }
        // Members in the order of "properties", the required ones first; other keys only when
        // additionalProperties is true or a schema (absent: none, the shape the schema describes).
        std::vector<std::string> req, opt;
        for (const auto& [k, v] : props.items()) {
            const std::string kv = literal("\"" + k + "\"") + " ws \":\" ws " + new_rule(visit(v, path + "properties/" + k + "/")) + " ws";
            (required.count(k) ? req : opt).push_back(kv);
        }
        std::string extra;
        if (s.contains("additionalProperties")) {
            const json& ap = s["additionalProperties"];
            if (ap.is_boolean()) {
                if (ap.get<bool>()) extra = "string ws \":\" ws value ws";
            } else extra = "string ws \":\" ws " + new_rule(visit(ap, path + "additionalProperties/")) + " ws";
        }
        if (!extra.empty()) opt.push_back("(" + extra + ") (\",\" ws " + extra + ")*");
        std::string body;
        if (!req.empty()) {
            body = join(req, " \",\" ws ");
            for (const auto& o : opt) body += " (\",\" ws " + o + ")?";
            return "\"{\" ws " + body + " \"}\"";
        }
        if (opt.empty()) return "\"{\" ws \"}\"";
        // Any subset of the optional members, in order: chain i ::= m_i ("," chain i+1)? | chain i+1.
        std::string next;
        for (size_t i = opt.size(); i-- > 0;) {
            next = next.empty() ? new_rule(opt[i]) : new_rule(opt[i] + " (\",\" ws " + next + ")? | " + next);
        }
        return "\"{\" ws " + next + "? \"}\"";
    }

    static size_t count_of(const json& s, const char* key, size_t fallback, const std::string& path, const Converter& c) {
        if (!s.contains(key)) return fallback;
        if (!s[key].is_number_unsigned() && !(s[key].is_number_integer() && s[key].get<int64_t>() >= 0))
            c.fail(path + key, "must be a non-negative integer");
        const auto v = s[key].get<uint64_t>();
        if (v > 1000) c.fail(path + key, "above 1000 is not supported");
        return static_cast<size_t>(v);
    }

    std::string array(const json& s, const std::string& path) {
        std::vector<std::string> prefix;
        if (s.contains("prefixItems")) {
            if (!s["prefixItems"].is_array()) fail(path + "prefixItems", "must be an array");
            for (size_t i = 0; i < s["prefixItems"].size(); ++i)
                prefix.push_back(new_rule(visit(s["prefixItems"][i], path + "prefixItems/" + std::to_string(i) + "/")));
        }
        std::string item = "value";
        bool more = true;
        if (s.contains("items")) {
            if (s["items"].is_boolean() && !s["items"].get<bool>()) more = false;
            else item = new_rule(visit(s["items"], path + "items/"));
        }
        const size_t min = count_of(s, "minItems", 0, path, *this);
        const size_t max = count_of(s, "maxItems", SIZE_MAX, path, *this);
        if (max < min) fail(path + "maxItems", "below minItems");
        std::vector<std::string> seq;  // the required elements
        for (size_t i = 0; i < std::max(min, prefix.size()) && i < max; ++i) {
            if (i < prefix.size()) seq.push_back(prefix[i]);
            else if (more) seq.push_back(item);
            else fail(path, "minItems asks for more items than prefixItems allows");
        }
        std::string body;
        for (size_t i = 0; i < seq.size(); ++i) body += (i ? " \",\" ws " : "") + seq[i] + " ws";
        if (more && seq.size() < max) {
            const std::string one = item + " ws";
            const std::string tail = max == SIZE_MAX ? "*" : "{0," + std::to_string(max - seq.size()) + "}";
            if (seq.empty()) body = "(" + one + " (\",\" ws " + one + ")" + (max == SIZE_MAX ? "*" : "{0," + std::to_string(max - 1) + "}") + ")?";
            else body += " (\",\" ws " + one + ")" + tail;
        }
        return "\"[\" ws " + body + " \"]\"";
    }

    std::string string(const json& s, const std::string& path) {
        if (s.contains("format")) {
            const std::string f = s["format"].get<std::string>();
            // Years 1000-9999, and the days each month has (29 February left out: not every year has it).
            const std::string date =
                "[1-9] [0-9]{3} \"-\" ((\"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])"
                " | (\"04\" | \"06\" | \"09\" | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02\" \"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))";
            const std::string time = "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
            std::string body;
            if (f == "date") body = date;
            else if (f == "time") body = time;
            else if (f == "date-time") body = date + " \"T\" " + time;
            else if (f == "uuid") body = "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}";
            else fail(path + "format", "format \"" + f + "\" is not supported (date, time, date-time, uuid are)");
            if (s.contains("pattern") || s.contains("minLength") || s.contains("maxLength"))
                fail(path, "format with pattern or a length is not supported");
            return "\"\\\"\" " + body + " \"\\\"\"";
        }
        if (s.contains("pattern")) {
            if (s.contains("minLength") || s.contains("maxLength")) fail(path, "pattern with a length is not supported");
            return "\"\\\"\" " + pattern(s["pattern"].get<std::string>(), path + "pattern") + " \"\\\"\"";
        }
        const size_t min = count_of(s, "minLength", 0, path, *this), max = count_of(s, "maxLength", SIZE_MAX, path, *this);
        if (max < min) fail(path + "maxLength", "below minLength");
        if (min == 0 && max == SIZE_MAX) return "string";
        return "\"\\\"\" char{" + std::to_string(min) + "," + (max == SIZE_MAX ? "" : std::to_string(max)) + "} \"\\\"\"";
    }

    // A regular expression of the subset JSON Schema patterns use, anchored at both ends
    // (an unanchored side matches any text there), over the characters of a JSON string.
    std::string pattern(std::string re, const std::string& path) {
        const bool start = !re.empty() && re[0] == '^';
        if (start) re.erase(0, 1);
        const bool end = !re.empty() && re.back() == '$' && (re.size() < 2 || re[re.size() - 2] != '\\');
        if (end) re.pop_back();
        size_t pos = 0;
        std::string body = regex_alt(re, pos, path);
        if (pos != re.size()) fail(path, "unbalanced ')' in the pattern");
        return (start ? "" : "char* ") + body + (end ? "" : " char*");
    }

    std::string regex_alt(const std::string& re, size_t& pos, const std::string& path) {
        std::vector<std::string> alts{regex_seq(re, pos, path)};
        while (pos < re.size() && re[pos] == '|') {
            ++pos;
            alts.push_back(regex_seq(re, pos, path));
        }
        return alts.size() == 1 ? alts[0] : "(" + join(alts, " | ") + ")";
    }

    // One literal character of the pattern, as the JSON text writes it.
    static std::string json_char(char c) {
        if (c == '"') return "\"\\\\\\\"\"";
        if (c == '\\') return "\"\\\\\\\\\"";
        return literal(std::string(1, c));
    }

    std::string regex_seq(const std::string& re, size_t& pos, const std::string& path) {
        std::vector<std::string> items;
        while (pos < re.size() && re[pos] != '|' && re[pos] != ')') {
            std::string atom;
            const char c = re[pos];
            if (c == '(') {
                ++pos;
                if (re.compare(pos, 2, "?:") == 0) pos += 2;
                else if (pos < re.size() && re[pos] == '?') fail(path, "lookarounds and named groups are not supported");
                atom = "(" + regex_alt(re, pos, path) + ")";
                if (pos >= re.size() || re[pos] != ')') fail(path, "unclosed '(' in the pattern");
                ++pos;
            } else if (c == '[') {
                const size_t close = re.find(']', pos + 2);
                if (close == std::string::npos) fail(path, "unclosed '[' in the pattern");
                std::string cls = re.substr(pos, close - pos + 1);
                if (cls.find('"') != std::string::npos || cls.find("\\\\") != std::string::npos)
                    fail(path, "a class with '\"' or '\\\\' is not supported");
                // \d \w \s inside a class
                std::string out;
                for (size_t i = 0; i < cls.size(); ++i) {
                    if (cls[i] == '\\' && i + 1 < cls.size()) {
                        const char e = cls[++i];
                        if (e == 'd') out += "0-9";
                        else if (e == 'w') out += "a-zA-Z0-9_";
                        else if (e == 's') out += " \\t";
                        else if (e == ']' || e == '-' || e == '^') out += std::string("\\") + e;
                        else out += e;
                    } else out += cls[i];
                }
                atom = out;
                pos = close + 1;
            } else if (c == '.') {
                atom = "char";
                ++pos;
            } else if (c == '\\') {
                if (pos + 1 >= re.size()) fail(path, "a trailing backslash in the pattern");
                const char e = re[pos + 1];
                pos += 2;
                if (e == 'd') atom = "[0-9]";
                else if (e == 'w') atom = "[a-zA-Z0-9_]";
                else if (e == 's') atom = "[ \\t]";
                else if (e == 'D' || e == 'W' || e == 'S' || e == 'b' || e == 'B') fail(path, std::string("\\") + e + " is not supported in patterns");
                else atom = json_char(e);
            } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                fail(path, std::string("nothing to repeat before '") + c + "'");
            } else if (c == '^' || c == '$') {
                fail(path, "anchors inside the pattern are not supported");
            } else {
                const auto lead = static_cast<unsigned char>(c);
                const size_t n = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : 4;
                atom = n == 1 ? json_char(c) : literal(re.substr(pos, n));  // a whole UTF-8 character
                pos += n;
            }
            // quantifier
            if (pos < re.size()) {
                const char q = re[pos];
                if (q == '*' || q == '+' || q == '?') {
                    atom += q;
                    ++pos;
                } else if (q == '{') {
                    const size_t close = re.find('}', pos);
                    if (close == std::string::npos) fail(path, "unclosed '{' in the pattern");
                    atom += re.substr(pos, close - pos + 1);
                    pos = close + 1;
                }
                if (pos < re.size() && re[pos] == '?') ++pos;  // lazy: the same language
            }
            items.push_back(atom);
        }
        if (items.empty()) return "\"\"";
        return join(items, " ");
    }

    // Integer bounds, from minimum / maximum and their exclusive forms.
    void int_bounds(const json& s, const std::string& path, bool& has_lo, int64_t& lo, bool& has_hi, int64_t& hi) const {
        const auto get = [&](const char* k, bool exclusive, bool upper, bool& has, int64_t& v) {
            if (!s.contains(k)) return;
            if (!s[k].is_number()) fail(path + k, "must be a number");
            const double d = s[k].get<double>();
            if (std::fabs(d) > 1e15) fail(path + k, "bounds beyond 10^15 are not supported");
            int64_t b = static_cast<int64_t>(upper ? std::floor(d) : std::ceil(d));
            if (exclusive && static_cast<double>(b) == d) b += upper ? -1 : 1;
            if (!has || (upper ? b < v : b > v)) v = b;
            has = true;
        };
        get("minimum", false, false, has_lo, lo);
        get("exclusiveMinimum", true, false, has_lo, lo);
        get("maximum", false, true, has_hi, hi);
        get("exclusiveMaximum", true, true, has_hi, hi);
        if (has_lo && has_hi && hi < lo) fail(path, "the bounds leave no integer");
    }

    std::string int_range(bool has_lo, int64_t lo, bool has_hi, int64_t hi) const {
        std::vector<std::string> alts;
        // Non-negative part.
        if (!has_hi || hi >= 0) alts.push_back(natural_range(has_lo ? std::max<int64_t>(lo, 0) : 0, has_hi ? hi : -1));
        // Negative part: -n for n in [max(1, -hi), -lo].
        if (!has_lo || lo < 0) alts.push_back("\"-\" " + natural_range(has_hi ? std::max<int64_t>(1, -hi) : 1, has_lo ? -lo : -1));
        return "(" + join(alts, " | ") + ")";
    }

    std::string integer(const json& s, const std::string& path) {
        bool has_lo = false, has_hi = false;
        int64_t lo = 0, hi = 0;
        int_bounds(s, path, has_lo, lo, has_hi, hi);
        if (!has_lo && !has_hi) return "integer";
        return int_range(has_lo, lo, has_hi, hi);
    }

    std::string number(const json& s, const std::string& path) {
        const bool bounded = s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") || s.contains("exclusiveMaximum");
        if (!bounded) return "number";
        for (const char* k : {"minimum", "maximum"})
            if (s.contains(k) && (!s[k].is_number() || std::floor(s[k].get<double>()) != s[k].get<double>()))
                fail(path + k, "on a number only whole-number bounds are supported");
        for (const char* k : {"exclusiveMinimum", "exclusiveMaximum"})
            if (s.contains(k)) fail(path + k, "exclusive bounds on a number are not supported (use an integer type)");
        bool has_lo = false, has_hi = false;
        int64_t lo = 0, hi = 0;
        int_bounds(s, path, has_lo, lo, has_hi, hi);
        // The integers in range, or a fraction on one whose whole range lies inside: i.f with
        // i in [lo, hi - 1] when i >= 0, -i.f with i in [-hi, -lo - 1]... kept simple: the
        // fraction only on integer parts strictly inside the bounds.
        const std::string whole = int_range(has_lo, lo, has_hi, hi);
        std::vector<std::string> frac;
        // non-negative values with a fraction: integer part in [max(lo,0), hi - 1]
        if (!has_hi || hi >= 1) {
            const int64_t a = has_lo ? std::max<int64_t>(lo, 0) : 0;
            if (!has_hi || a <= hi - 1) frac.push_back(natural_range(a, has_hi ? hi - 1 : -1) + " \".\" [0-9]{1,15}");
        }
        // negative values with a fraction: -(i.f) >= lo means i in [max(0, -hi), -lo - 1]
        if (!has_lo || lo <= -1) {
            const int64_t a = has_hi ? std::max<int64_t>(0, -hi) : 0;
            if (!has_lo || a <= -lo - 1) frac.push_back("\"-\" " + natural_range(a, has_lo ? -lo - 1 : -1) + " \".\" [0-9]{1,15}");
        }
        frac.push_back(whole);
        return "(" + join(frac, " | ") + ")";
    }

    const json& root_;
    std::map<std::string, std::string> rules_;
    std::map<std::string, std::string> refs_;
    int count_ = 0;
};

}  // namespace

std::string json_schema_to_gbnf(const json& schema) { return Converter(schema).run(); }

}  // namespace grammar
