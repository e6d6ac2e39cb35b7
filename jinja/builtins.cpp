// jinja2's filters and tests, Python's str / list / dict methods, and the globals Hugging Face
// adds, as far as chat templates use them. Each behaves as its Python original does, checked
// against python3-jinja2 (tests/test_jinja.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "jinja/interpreter.h"

namespace jinja {

namespace {

bool is_py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::vector<uint32_t> code_points(const std::string& s) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < s.size();) out.push_back(next_code_point(s, i));
    return out;
}

std::string encode(const std::vector<uint32_t>& cps, size_t from = 0, size_t to = SIZE_MAX) {
    std::string out;
    for (size_t i = from; i < cps.size() && i < to; ++i) append_utf8(out, cps[i]);
    return out;
}

char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string upper(std::string s) {
    for (char& c : s) c = ascii_upper(c);
    return s;
}
std::string lower(std::string s) {
    for (char& c : s) c = ascii_lower(c);
    return s;
}
std::string capitalize(const std::string& s) {
    std::string out = lower(s);
    if (!out.empty()) out[0] = ascii_upper(out[0]);
    return out;
}
// Python's str.title: a letter after a non-letter is upper case, others lower.
std::string py_title(const std::string& s) {
    std::string out = s;
    bool prev_letter = false;
    for (char& c : out) {
        const bool letter = ascii_alpha(c) || (static_cast<unsigned char>(c) >= 0x80);
        if (ascii_alpha(c)) c = prev_letter ? ascii_lower(c) : ascii_upper(c);
        prev_letter = letter;
    }
    return out;
}

Error type_error(const std::string& what) { return Error(what); }

const std::string& need_string(const Value& v, const char* what) {
    if (!v.is_string()) throw type_error(std::string(what) + " must be a string, not " + v.type_name());
    return v.str();
}

int64_t need_int(const Value& v, const char* what) {
    if (v.kind() != Value::Kind::integer && v.kind() != Value::Kind::boolean)
        throw type_error(std::string(what) + " must be an integer, not " + v.type_name());
    return v.as_int();
}

std::vector<std::string> split(const std::string& s, const Value& sep, int64_t maxsplit) {
    std::vector<std::string> out;
    if (sep.is_none() || sep.is_undefined()) {
        const std::vector<uint32_t> cps = code_points(s);
        size_t i = 0;
        while (i < cps.size()) {
            while (i < cps.size() && is_py_space(cps[i])) ++i;
            if (i >= cps.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
                size_t end = cps.size();
                while (end > i && is_py_space(cps[end - 1])) --end;
                out.push_back(encode(cps, i, end));
                return out;
            }
            const size_t start = i;
            while (i < cps.size() && !is_py_space(cps[i])) ++i;
            out.push_back(encode(cps, start, i));
        }
        return out;
    }
    const std::string& d = need_string(sep, "the separator");
    if (d.empty()) throw Error("empty separator");
    size_t start = 0;
    for (;;) {
        const size_t at = maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit ? std::string::npos : s.find(d, start);
        if (at == std::string::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, at - start));
        start = at + d.size();
    }
}

std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
    std::string out;
    if (from.empty()) {  // Python inserts `to` between every character
        const std::vector<uint32_t> cps = code_points(s);
        int64_t n = 0;
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || n < count) {
                out += to;
                ++n;
            }
            if (i < cps.size()) append_utf8(out, cps[i]);
        }
        return out;
    }
    size_t start = 0;
    int64_t n = 0;
    for (;;) {
        const size_t at = count >= 0 && n >= count ? std::string::npos : s.find(from, start);
        if (at == std::string::npos) return out + s.substr(start);
        out += s.substr(start, at - start) + to;
        start = at + from.size();
        ++n;
    }
}

std::vector<std::string> splitlines(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (size_t i = 0; i < s.size();) {
        const size_t start = i;
        const uint32_t cp = next_code_point(s, i);
        if (cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
            cp == 0x2028 || cp == 0x2029) {
            if (cp == '\r' && i < s.size() && s[i] == '\n') ++i;
            out.push_back(cur);
            cur.clear();
        } else cur.append(s, start, i - start);
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

bool starts_or_ends(const std::string& s, const Value& what, bool start) {
    const auto one = [&](const Value& v) {
        const std::string& p = need_string(v, start ? "startswith's argument" : "endswith's argument");
        return p.size() <= s.size() && (start ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0);
    };
    if (what.is_list()) {
        for (const Value& v : what.list())
            if (one(v)) return true;
        return false;
    }
    return one(what);
}

// printf-style "%s %d %r %f %%" with the given values (a tuple, or one value).
std::string percent_format(const std::string& fmt, const Value& values) {
    std::vector<Value> args = values.is_tuple() ? values.list() : std::vector<Value>{values};
    size_t next = 0;
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        size_t j = i + 1;
        std::string spec = "%";
        while (j < fmt.size() && std::string_view("-+ #0123456789.").find(fmt[j]) != std::string_view::npos) spec += fmt[j++];
        if (j >= fmt.size()) throw Error("incomplete format");
        const char conv = fmt[j];
        i = j;
        for (size_t k = 1, num = 0; k <= spec.size(); ++k) {  // no widths that would make printf allocate
            if (k < spec.size() && spec[k] >= '0' && spec[k] <= '9') num = num * 10 + static_cast<size_t>(spec[k] - '0');
            else num = 0;
            if (num > 4096) throw Error("format width or precision above 4096");
        }
        if (conv == '%') {
            out += '%';
            continue;
        }
        if (next >= args.size()) throw Error("not enough arguments for format string");
        const Value& v = args[next++];
        char buf[512];
        switch (conv) {
            case 's':
            case 'r': {
                const std::string text = conv == 's' ? v.to_str() : v.repr();
                if (spec == "%") out += text;
                else {
                    std::vector<char> wide(text.size() + 512);
                    std::snprintf(wide.data(), wide.size(), (spec + "s").c_str(), text.c_str());
                    out += wide.data();
                }
                break;
            }
            case 'd':
            case 'i':
                std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(v.as_int()));
                out += buf;
                break;
            case 'f':
            case 'e':
            case 'g':
                std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_float());
                out += buf;
                break;
            case 'x':
                std::snprintf(buf, sizeof buf, (spec + "llx").c_str(), static_cast<long long>(v.as_int()));
                out += buf;
                break;
            default: throw Error(std::string("unsupported format character '") + conv + "'");
        }
    }
    if (next < args.size()) throw Error("not all arguments converted during string formatting");
    return out;
}

// Python's str.format for {} / {0} / {name} with an optional ! conversion (no format specs).
std::string brace_format(const std::string& fmt, Call& c) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
        } else if (fmt[i] == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
            out += '}';
            ++i;
        } else if (fmt[i] == '{') {
            const size_t end = fmt.find('}', i);
            if (end == std::string::npos) throw Error("Single '{' encountered in format string");
            std::string field = fmt.substr(i + 1, end - i - 1);
            bool repr = false;
            if (const size_t bang = field.find('!'); bang != std::string::npos) {
                repr = field.substr(bang + 1) == "r";
                field.resize(bang);
            }
            if (field.find(':') != std::string::npos) throw Error("format specs in str.format are not supported");
            Value v;
            if (field.empty()) v = c.get(1 + auto_index++, "");
            else if (field.find_first_not_of("0123456789") == std::string::npos) v = c.get(1 + std::stoul(field), "");
            else if (const Value* k = c.keyword(field.c_str())) v = *k;
            else throw Error("KeyError: '" + field + "'");
            out += repr ? v.repr() : v.to_str();
            i = end;
        } else out += fmt[i];
    }
    return out;
}

Value unsafe(const Value& obj, const std::string& name) {
    return Value::function(name, [name, type = obj.type_name()](Call&) -> Value {
        throw Error("access to attribute '" + name + "' of '" + type + "' object is unsafe.");
    });
}

Value list_of(std::vector<std::string> items) {
    List l;
    for (auto& s : items) l.emplace_back(std::move(s));
    return Value(std::move(l));
}

// An attribute path "a.b.c" (or an integer index) of a value, as filters' attribute= takes it.
Value attribute_path(Interpreter& in, const Value& v, const Value& attr) {
    if (attr.kind() == Value::Kind::integer) {
        Call c{in, {v, attr}, {}};
        return in.apply_filter("\x01item", c);
    }
    Value cur = v;
    std::string path = attr.to_str();
    size_t start = 0;
    for (;;) {
        const size_t dot = path.find('.', start);
        cur = in.getattr(cur, path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

// The key sort, unique and dictsort compare by: lower case for strings unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value(lower(v.str()));
    return v;
}

// --- filters (args[0] is the input) ---

Value f_length(Call& c) {
    const Value& v = c.args[0];
    if (v.is_string()) return Value(code_points(v.str()).size());
    if (v.is_list()) return Value(v.list().size());  // not generators: they have no len()
    if (v.is_mapping()) return Value(v.dict().items.size());
    if (v.is_undefined()) return Value(0);
    throw Error("object of type '" + v.type_name() + "' has no len()");
}
Value f_string(Call& c) { return Value(c.args[0].to_str()); }
Value f_upper(Call& c) { return Value(upper(c.args[0].to_str())); }
Value f_lower(Call& c) { return Value(lower(c.args[0].to_str())); }
Value f_capitalize(Call& c) { return Value(capitalize(c.args[0].to_str())); }
Value f_title(Call& c) {
    // jinja2's title: each word (after a run of whitespace or -({[<) capitalized.
    const std::string s = c.args[0].to_str();
    std::string out;
    bool start = true;
    for (char ch : s) {
        const bool sep = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v' || ch == '-' ||
                         ch == '(' || ch == '{' || ch == '[' || ch == '<';
        out += sep ? ch : start ? ascii_upper(ch) : ascii_lower(ch);
        start = sep;
    }
    return Value(out);
}
Value f_trim(Call& c) { return Value(strip(c.args[0].to_str(), c.get(1, "chars"), true, true)); }
Value f_safe(Call& c) { return c.args[0]; }
Value f_escape(Call& c) {
    std::string out;
    for (char ch : c.args[0].to_str()) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += ch;
        }
    }
    return Value(out);
}
Value f_default(Call& c) {
    const Value fallback = c.get(1, "default_value", Value(""));
    const bool boolean = c.get(2, "boolean", Value(false)).truthy();
    const Value& v = c.args[0];
    if (v.is_undefined() || (boolean && !v.truthy())) return fallback;
    return v;
}
Value f_tojson(Call& c) {
    JsonStyle style;
    const Value indent = c.get(1, "indent", Value::none());
    if (!indent.is_none()) {
        style.indent = static_cast<int>(need_int(indent, "tojson's indent"));
        style.item_sep = ",";
    }
    if (const Value* seps = c.keyword("separators"); seps != nullptr && seps->is_list() && seps->list().size() == 2) {
        style.item_sep = seps->list()[0].to_str();
        style.key_sep = seps->list()[1].to_str();
    }
    if (const Value* sk = c.keyword("sort_keys")) style.sort_keys = sk->truthy();
    std::string out;
    c.args[0].to_json(out, style);
    c.in.check_size(out.size());
    return Value(out);
}
Value f_items(Call& c) {
    const Value& v = c.args[0];
    if (v.is_undefined()) return Value(List{});
    if (!v.is_mapping()) throw Error("items: expected a mapping, not " + v.type_name());
    List out;
    for (const auto& [k, x] : v.dict().items) out.emplace_back(List{Value(k), x}, true);
    return Value(std::move(out));
}
Value f_list(Call& c) { return Value(c.in.iterate(c.args[0])); }
Value f_first(Call& c) {
    const auto items = c.in.iterate(c.args[0]);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}
Value f_last(Call& c) {
    const auto items = c.in.iterate(c.args[0]);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}
Value f_reverse(Call& c) {
    const Value& v = c.args[0];
    if (v.is_string()) {
        std::vector<uint32_t> cps = code_points(v.str());
        std::reverse(cps.begin(), cps.end());
        return Value(encode(cps));
    }
    auto items = c.in.iterate(v);
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
}
Value f_join(Call& c) {
    const std::string sep = c.get(1, "d", Value("")).to_str();
    const Value attr = c.get(2, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const Value& v : c.in.iterate(c.args[0])) {
        if (!first) out += sep;
        first = false;
        out += (attr.is_none() ? v : attribute_path(c.in, v, attr)).to_str();
        c.in.check_size(out.size());
    }
    return Value(out);
}
Value f_replace(Call& c) {
    const std::string s = c.args[0].to_str();
    const Value count = c.get(3, "count", Value::none());
    std::string out = replace(s, c.get(1, "old").to_str(), c.get(2, "new").to_str(), count.is_none() ? -1 : need_int(count, "count"));
    c.in.check_size(out.size());
    return Value(out);
}
Value f_indent(Call& c) {
    const Value w = c.get(1, "width", Value(4));
    const std::string ind = w.is_string() ? w.str() : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(w, "width"))), ' ');
    const bool first = c.get(2, "first", Value(false)).truthy(), blank = c.get(3, "blank", Value(false)).truthy();
    const std::vector<std::string> lines = splitlines(c.args[0].to_str() + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i) out += "\n";
        if (i > 0 && (blank || !lines[i].empty())) out += ind;
        out += lines[i];
    }
    if (first) out = ind + out;
    c.in.check_size(out.size());
    return Value(out);
}
Value f_int(Call& c) {
    const Value& v = c.args[0];
    const Value fallback = c.get(1, "default", Value(0));
    if (v.kind() == Value::Kind::integer || v.kind() == Value::Kind::boolean) return Value(v.as_int());
    if (v.kind() == Value::Kind::floating) return std::isfinite(v.as_float()) ? Value(static_cast<int64_t>(v.as_float())) : fallback;
    if (v.is_string()) {
        const std::string s = strip(v.str(), Value::none(), true, true);
        char* end = nullptr;
        errno = 0;
        const long long i = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && *end == '\0' && std::isfinite(d)) return Value(static_cast<int64_t>(d));
    }
    return fallback;
}
Value f_float(Call& c) {
    const Value& v = c.args[0];
    if (v.is_number()) return Value(v.as_float());
    if (v.is_string()) {
        const std::string s = strip(v.str(), Value::none(), true, true);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && *end == '\0') return Value(d);
    }
    return c.get(1, "default", Value(0.0));
}
Value f_abs(Call& c) {
    const Value& v = c.args[0];
    if (v.kind() == Value::Kind::floating) return Value(std::fabs(v.as_float()));
    if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    throw Error("bad operand type for abs(): '" + v.type_name() + "'");
}
Value f_round(Call& c) {
    const double x = c.args[0].as_float();
    const int64_t precision = need_int(c.get(1, "precision", Value(0)), "precision");
    const std::string method = c.get(2, "method", Value("common")).to_str();
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double y = x * scale;
    double r;
    if (method == "ceil") r = std::ceil(y);
    else if (method == "floor") r = std::floor(y);
    else r = std::nearbyint(y);  // Python's round: half to even
    return Value(r / scale);
}
Value f_sum(Call& c) {
    const Value attr = c.get(1, "attribute", Value::none());
    Value total = c.get(2, "start", Value(0));
    for (const Value& v : c.in.iterate(c.args[0])) {
        const Value x = attr.is_none() ? v : attribute_path(c.in, v, attr);
        if (!x.is_number() || !total.is_number()) throw Error("sum: unsupported operand types");
        if (x.kind() == Value::Kind::floating || total.kind() == Value::Kind::floating) total = Value(total.as_float() + x.as_float());
        else total = Value(total.as_int() + x.as_int());
    }
    return total;
}
Value min_max(Call& c, bool want_max) {
    const bool cs = c.get(1, "case_sensitive", Value(false)).truthy();
    const Value attr = c.get(2, "attribute", Value::none());
    const auto items = c.in.iterate(c.args[0]);
    if (items.empty()) return Value::undefined(std::string("No ") + (want_max ? "largest" : "smallest") + " item, sequence was empty.");
    const Value* best = &items[0];
    const auto key = [&](const Value& v) { return sort_key(attr.is_none() ? v : attribute_path(c.in, v, attr), cs); };
    for (const Value& v : items)
        if (want_max ? less(key(*best), key(v)) : less(key(v), key(*best))) best = &v;
    return *best;
}
Value f_max(Call& c) { return min_max(c, true); }
Value f_min(Call& c) { return min_max(c, false); }
Value f_sort(Call& c) {
    const bool reverse = c.get(1, "reverse", Value(false)).truthy(), cs = c.get(2, "case_sensitive", Value(false)).truthy();
    const Value attr = c.get(3, "attribute", Value::none());
    auto items = c.in.iterate(c.args[0]);
    std::vector<std::pair<Value, Value>> keyed;
    for (Value& v : items) keyed.emplace_back(sort_key(attr.is_none() ? v : attribute_path(c.in, v, attr), cs), std::move(v));
    std::stable_sort(keyed.begin(), keyed.end(),
                     [&](const auto& a, const auto& b) { return reverse ? less(b.first, a.first) : less(a.first, b.first); });
    List out;
    for (auto& kv : keyed) out.push_back(std::move(kv.second));
    return Value(std::move(out));
}
Value f_dictsort(Call& c) {
    const bool cs = c.get(1, "case_sensitive", Value(false)).truthy();
    const bool by_value = c.get(2, "by", Value("key")).to_str() == "value";
    const bool reverse = c.get(3, "reverse", Value(false)).truthy();
    if (!c.args[0].is_mapping()) throw Error("dictsort: expected a mapping, not " + c.args[0].type_name());
    List pairs;
    for (const auto& [k, v] : c.args[0].dict().items) pairs.emplace_back(List{Value(k), v}, true);
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
        const Value ka = sort_key(a.list()[by_value], cs), kb = sort_key(b.list()[by_value], cs);
        return reverse ? less(kb, ka) : less(ka, kb);
    });
    return Value(std::move(pairs));
}
Value f_unique(Call& c) {
    const bool cs = c.get(1, "case_sensitive", Value(false)).truthy();
    const Value attr = c.get(2, "attribute", Value::none());
    List out, keys;
    for (const Value& v : c.in.iterate(c.args[0])) {
        const Value k = sort_key(attr.is_none() ? v : attribute_path(c.in, v, attr), cs);
        if (std::none_of(keys.begin(), keys.end(), [&](const Value& x) { return equal(x, k); })) {
            keys.push_back(k);
            out.push_back(v);
        }
    }
    return Value(std::move(out));
}
Value f_map(Call& c) {
    List out;
    const Value* attr = c.keyword("attribute");
    const Value fallback = c.keyword("default") ? *c.keyword("default") : Value();
    for (const Value& v : c.in.iterate(c.args[0])) {
        if (attr != nullptr) {
            Value x = attribute_path(c.in, v, *attr);
            out.push_back(x.is_undefined() && c.keyword("default") ? fallback : x);
            continue;
        }
        if (c.args.size() < 2) throw Error("map: expected a filter name or attribute=");
        Call fc{c.in, {v}, c.kwargs};
        fc.args.insert(fc.args.end(), c.args.begin() + 2, c.args.end());
        out.push_back(c.in.apply_filter(c.args[1].to_str(), fc));
    }
    return Value::generator(std::move(out));
}
// select / reject (test on the item) and selectattr / rejectattr (test on an attribute).
Value select(Call& c, bool by_attr, bool keep) {
    List out;
    const size_t test_at = by_attr ? 2 : 1;
    for (const Value& v : c.in.iterate(c.args[0])) {
        const Value x = by_attr ? attribute_path(c.in, v, c.get(1, "attribute")) : v;
        bool ok;
        if (c.args.size() > test_at) {
            Call tc{c.in, {x}, {}};
            tc.args.insert(tc.args.end(), c.args.begin() + static_cast<long>(test_at) + 1, c.args.end());
            ok = c.in.apply_test(c.args[test_at].to_str(), tc);
        } else ok = x.truthy();
        if (ok == keep) out.push_back(v);
    }
    return Value::generator(std::move(out));
}
Value f_select(Call& c) { return select(c, false, true); }
Value f_reject(Call& c) { return select(c, false, false); }
Value f_selectattr(Call& c) { return select(c, true, true); }
Value f_rejectattr(Call& c) { return select(c, true, false); }
// Python's getattr: a dict's keys are not its attributes.
Value f_attr(Call& c) {
    const std::string name = c.get(1, "name").to_str();
    if (c.args[0].is_dict()) {
        Value m = find_method(c.args[0], name);
        return m.is_function() ? m : Value::undefined("'dict object' has no attribute '" + name + "'");
    }
    return c.in.getattr(c.args[0], name);
}
Value f_format(Call& c) {
    List rest(c.args.begin() + 1, c.args.end());
    return Value(percent_format(c.args[0].to_str(), Value(std::move(rest), true)));
}
Value f_wordcount(Call& c) {
    size_t n = 0;
    bool in_word = false;
    for (char ch : c.args[0].to_str()) {
        const bool w = ascii_alpha(ch) || (ch >= '0' && ch <= '9') || ch == '_' || static_cast<unsigned char>(ch) >= 0x80;
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value(n);
}
Value f_batch(Call& c) {
    const int64_t size = need_int(c.get(1, "linecount"), "batch size");
    if (size <= 0) throw Error("batch size must be positive");
    const Value fill = c.get(2, "fill_with", Value::none());
    List out, cur;
    for (const Value& v : c.in.iterate(c.args[0])) {
        cur.push_back(v);
        if (static_cast<int64_t>(cur.size()) == size) {
            out.emplace_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) {
        if (!fill.is_none())
            while (static_cast<int64_t>(cur.size()) < size) cur.push_back(fill);
        out.emplace_back(std::move(cur));
    }
    return Value(std::move(out));
}
// Subscript by index, for attribute_path's integer case.
Value f_item(Call& c) {
    const Value& v = c.args[0];
    if (!v.is_list()) return Value::undefined("'" + v.type_name() + " object' has no element " + c.args[1].to_str());
    int64_t i = c.args[1].as_int();
    const auto n = static_cast<int64_t>(v.list().size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("list object has no element " + c.args[1].to_str());
    return v.list()[static_cast<size_t>(i)];
}

const std::map<std::string, FilterFn>& filters() {
    static const std::map<std::string, FilterFn> table = {
        {"abs", f_abs},           {"attr", f_attr},         {"batch", f_batch},         {"capitalize", f_capitalize},
        {"count", f_length},      {"d", f_default},         {"default", f_default},     {"dictsort", f_dictsort},
        {"e", f_escape},          {"escape", f_escape},     {"first", f_first},         {"float", f_float},
        {"format", f_format},     {"indent", f_indent},     {"int", f_int},             {"items", f_items},
        {"join", f_join},         {"last", f_last},         {"length", f_length},       {"list", f_list},
        {"lower", f_lower},       {"map", f_map},           {"max", f_max},             {"min", f_min},
        {"reject", f_reject},     {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
        {"round", f_round},       {"safe", f_safe},         {"select", f_select},       {"selectattr", f_selectattr},
        {"sort", f_sort},         {"string", f_string},     {"sum", f_sum},             {"title", f_title},
        {"tojson", f_tojson},     {"trim", f_trim},         {"unique", f_unique},       {"upper", f_upper},
        {"wordcount", f_wordcount}, {"\x01item", f_item},
    };
    return table;
}

// --- tests (args[0] is the value tested) ---

bool t_defined(Call& c) { return !c.args[0].is_undefined(); }
bool t_undefined(Call& c) { return c.args[0].is_undefined(); }
bool t_none(Call& c) { return c.args[0].is_none(); }
bool t_boolean(Call& c) { return c.args[0].kind() == Value::Kind::boolean; }
bool t_true(Call& c) { return c.args[0].kind() == Value::Kind::boolean && c.args[0].as_bool(); }
bool t_false(Call& c) { return c.args[0].kind() == Value::Kind::boolean && !c.args[0].as_bool(); }
bool t_integer(Call& c) { return c.args[0].kind() == Value::Kind::integer; }
bool t_float(Call& c) { return c.args[0].kind() == Value::Kind::floating; }
bool t_number(Call& c) { return c.args[0].is_number(); }
bool t_string(Call& c) { return c.args[0].is_string(); }
bool t_mapping(Call& c) { return c.args[0].is_dict(); }
bool t_iterable(Call& c) { return c.args[0].is_string() || c.args[0].is_iterable_list() || c.args[0].is_dict() || c.args[0].is_undefined(); }
bool t_sequence(Call& c) { return c.args[0].is_string() || c.args[0].is_list() || c.args[0].is_dict() || c.args[0].is_undefined(); }
bool t_callable(Call& c) { return c.args[0].is_function(); }
bool t_odd(Call& c) { return need_int(c.args[0], "odd's value") % 2 != 0; }
bool t_even(Call& c) { return need_int(c.args[0], "even's value") % 2 == 0; }
bool t_divisibleby(Call& c) {
    const int64_t d = need_int(c.get(1, "num"), "divisibleby's argument");
    if (d == 0) throw Error("integer division or modulo by zero");
    return need_int(c.args[0], "divisibleby's value") % d == 0;
}
bool t_eq(Call& c) { return equal(c.args[0], c.get(1, "other")); }
bool t_ne(Call& c) { return !equal(c.args[0], c.get(1, "other")); }
bool t_lt(Call& c) { return less(c.args[0], c.get(1, "other")); }
bool t_le(Call& c) { return !less(c.get(1, "other"), c.args[0]); }
bool t_gt(Call& c) { return less(c.get(1, "other"), c.args[0]); }
bool t_ge(Call& c) { return !less(c.args[0], c.get(1, "other")); }
bool t_lower(Call& c) { return c.args[0].is_string() && lower(c.args[0].str()) == c.args[0].str(); }
bool t_upper(Call& c) { return c.args[0].is_string() && upper(c.args[0].str()) == c.args[0].str(); }
bool t_sameas(Call& c) {
    const Value o = c.get(1, "other");
    return c.args[0].kind() == o.kind() && equal(c.args[0], o);
}
bool t_in(Call& c) {
    const Value seq = c.get(1, "seq");
    if (seq.is_string()) return c.args[0].is_string() && seq.str().find(c.args[0].str()) != std::string::npos;
    if (seq.is_mapping()) return c.args[0].is_string() && seq.dict().find(c.args[0].str()) != nullptr;
    for (const Value& v : c.in.iterate(seq))
        if (equal(v, c.args[0])) return true;
    return false;
}
bool t_filter(Call& c) { return find_filter(c.args[0].to_str()) != nullptr; }
bool t_test(Call& c) { return find_test(c.args[0].to_str()) != nullptr; }
bool t_escaped(Call&) { return false; }

const std::map<std::string, TestFn>& tests() {
    static const std::map<std::string, TestFn> table = {
        {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
        {"true", t_true},       {"false", t_false},         {"integer", t_integer}, {"float", t_float},
        {"number", t_number},   {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
        {"sequence", t_sequence}, {"callable", t_callable}, {"odd", t_odd},         {"even", t_even},
        {"divisibleby", t_divisibleby}, {"eq", t_eq},       {"equalto", t_eq},      {"==", t_eq},
        {"ne", t_ne},           {"!=", t_ne},               {"lt", t_lt},           {"lessthan", t_lt},
        {"<", t_lt},            {"le", t_le},               {"<=", t_le},           {"gt", t_gt},
        {"greaterthan", t_gt},  {">", t_gt},                {"ge", t_ge},           {">=", t_ge},
        {"lower", t_lower},     {"upper", t_upper},         {"sameas", t_sameas},   {"in", t_in},
        {"filter", t_filter},   {"test", t_test},           {"escaped", t_escaped},
    };
    return table;
}

// --- methods ---

Value string_method(const Value& obj, const std::string& name) {
    const std::string s = obj.str();
    const auto bind = [&](Value (*f)(const std::string&, Call&)) {
        return Value::function(name, [s, f](Call& c) { return f(s, c); });
    };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const bool l = name != "rstrip", r = name != "lstrip";
        return Value::function(name, [s, l, r](Call& c) { return Value(strip(s, c.get(1, "chars", Value::none()), l, r)); });
    }
    if (name == "split" || name == "rsplit")
        return bind([](const std::string& s, Call& c) {
            const Value maxsplit = c.get(2, "maxsplit", Value(-1));
            return list_of(split(s, c.get(1, "sep", Value::none()), need_int(maxsplit, "maxsplit")));
        });
    if (name == "splitlines") return bind([](const std::string& s, Call&) { return list_of(splitlines(s)); });
    if (name == "startswith") return bind([](const std::string& s, Call& c) { return Value(starts_or_ends(s, c.get(1, "prefix"), true)); });
    if (name == "endswith") return bind([](const std::string& s, Call& c) { return Value(starts_or_ends(s, c.get(1, "suffix"), false)); });
    if (name == "replace")
        return bind([](const std::string& s, Call& c) {
            std::string out = replace(s, need_string(c.get(1, "old"), "replace's old"), need_string(c.get(2, "new"), "replace's new"),
                                      need_int(c.get(3, "count", Value(-1)), "count"));
            c.in.check_size(out.size());
            return Value(out);
        });
    if (name == "upper") return bind([](const std::string& s, Call&) { return Value(upper(s)); });
    if (name == "lower") return bind([](const std::string& s, Call&) { return Value(lower(s)); });
    if (name == "title") return bind([](const std::string& s, Call&) { return Value(py_title(s)); });
    if (name == "capitalize") return bind([](const std::string& s, Call&) { return Value(capitalize(s)); });
    if (name == "find" || name == "index" || name == "rfind" || name == "rindex") {
        const bool rev = name[0] == 'r', raise = name.find("index") != std::string::npos;
        return Value::function(name, [s, rev, raise](Call& c) {
            const std::string& sub = need_string(c.get(1, "sub"), "the substring");
            const size_t at = rev ? s.rfind(sub) : s.find(sub);
            if (at == std::string::npos) {
                if (raise) throw Error("substring not found");
                return Value(-1);
            }
            return Value(code_points(s.substr(0, at)).size());
        });
    }
    if (name == "count")
        return bind([](const std::string& s, Call& c) {
            const std::string& sub = need_string(c.get(1, "sub"), "the substring");
            if (sub.empty()) return Value(code_points(s).size() + 1);
            size_t n = 0;
            for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
            return Value(n);
        });
    if (name == "join")
        return bind([](const std::string& s, Call& c) {
            std::string out;
            bool first = true;
            for (const Value& v : c.in.iterate(c.get(1, "iterable"))) {
                if (!first) out += s;
                first = false;
                out += need_string(v, "join's items");
                c.in.check_size(out.size());
            }
            return Value(out);
        });
    if (name == "format") return bind([](const std::string& s, Call& c) { return Value(brace_format(s, c)); });
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" || name == "islower") {
        return Value::function(name, [s, name](Call&) {
            if (s.empty()) return Value(false);
            if (name == "isupper" || name == "islower") {
                bool cased = false;
                for (char ch : s)
                    if (ascii_alpha(ch)) {
                        cased = true;
                        if ((name == "isupper") != (ch >= 'A' && ch <= 'Z')) return Value(false);
                    }
                return Value(cased);
            }
            for (uint32_t cp : code_points(s)) {
                const bool digit = cp >= '0' && cp <= '9', alpha = cp < 128 && ascii_alpha(static_cast<char>(cp));
                const bool ok = name == "isdigit" ? digit : name == "isalpha" ? alpha : name == "isalnum" ? digit || alpha : is_py_space(cp);
                if (!ok) return Value(false);
            }
            return Value(true);
        });
    }
    return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value list_method(const Value& obj, const std::string& name) {
    if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" || name == "reverse" ||
        name == "sort" || name == "clear")
        return unsafe(obj, name);
    if (name == "count")
        return Value::function(name, [obj](Call& c) {
            const Value x = c.get(1, "value");
            return Value(static_cast<size_t>(std::count_if(obj.list().begin(), obj.list().end(), [&](const Value& v) { return equal(v, x); })));
        });
    if (name == "index")
        return Value::function(name, [obj](Call& c) {
            const Value x = c.get(1, "value");
            for (size_t i = 0; i < obj.list().size(); ++i)
                if (equal(obj.list()[i], x)) return Value(i);
            throw Error(x.repr() + " is not in list");
        });
    if (name == "copy") return Value::function(name, [obj](Call&) { return obj; });
    return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

Value dict_method(const Value& obj, const std::string& name) {
    if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update") return unsafe(obj, name);
    if (name == "items")
        return Value::function(name, [obj](Call& c) {
            Call fc{c.in, {obj}, {}};
            return f_items(fc);
        });
    if (name == "keys" || name == "values")
        return Value::function(name, [obj, keys = name == "keys"](Call&) {
            List out;
            for (const auto& [k, v] : obj.dict().items) out.push_back(keys ? Value(k) : v);
            return Value(std::move(out));
        });
    if (name == "get")
        return Value::function(name, [obj](Call& c) {
            const Value key = c.get(1, "key");
            const Value* v = key.is_string() ? obj.dict().find(key.str()) : nullptr;
            return v != nullptr ? *v : c.get(2, "default", Value::none());
        });
    if (name == "copy") return Value::function(name, [obj](Call&) { return obj; });
    return Value::undefined("");  // not a method: the caller looks the key up instead
}

}  // namespace

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
    const std::vector<uint32_t> cps = code_points(s);
    std::vector<uint32_t> set;
    const bool custom = !chars.is_none() && !chars.is_undefined();
    if (custom) set = code_points(need_string(chars, "strip's characters"));
    const auto strippable = [&](uint32_t cp) { return custom ? std::find(set.begin(), set.end(), cp) != set.end() : is_py_space(cp); };
    size_t from = 0, to = cps.size();
    if (left)
        while (from < to && strippable(cps[from])) ++from;
    if (right)
        while (to > from && strippable(cps[to - 1])) --to;
    return encode(cps, from, to);
}

FilterFn find_filter(const std::string& name) {
    const auto it = filters().find(name);
    return it == filters().end() ? nullptr : it->second;
}

TestFn find_test(const std::string& name) {
    const auto it = tests().find(name);
    return it == tests().end() ? nullptr : it->second;
}

Value find_method(const Value& obj, const std::string& name) {
    if (obj.is_string()) return string_method(obj, name);
    if (obj.is_list()) return list_method(obj, name);
    if (obj.is_dict()) return dict_method(obj, name);
    return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

void add_globals(Frame& g) {
    g.vars["raise_exception"] = Value::function("raise_exception", [](Call& c) -> Value {
        throw Raised(c.get(1, "message", Value("")).to_str());
    });
    g.vars["strftime_now"] = Value::function("strftime_now", [](Call& c) {
        const std::string fmt = c.get(1, "format").to_str();
        if (fmt.size() > 256) throw Error("strftime_now: format too long");
        char buf[1024];
        const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &c.in.options().now);
        return Value(std::string(buf, n));
    });
    g.vars["range"] = Value::function("range", [](Call& c) {
        int64_t start = 0, stop, step = 1;
        if (c.args.size() <= 2) stop = need_int(c.get(1, "stop"), "range's stop");
        else {
            start = need_int(c.args[1], "range's start");
            stop = need_int(c.args[2], "range's stop");
            if (c.args.size() > 3) step = need_int(c.args[3], "range's step");
        }
        if (step == 0) throw Error("range() arg 3 must not be zero");
        const int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (n > static_cast<int64_t>(c.in.options().max_steps)) throw Error("range of " + std::to_string(n) + " items is past the step limit");
        List out;
        out.reserve(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) out.emplace_back(start + i * step);
        return Value(std::move(out));
    });
    g.vars["namespace"] = Value::function("namespace", [](Call& c) {
        Dict d;
        if (!c.args.empty() && c.args.size() > 1 && c.args[1].is_mapping()) d = c.args[1].dict();
        for (const auto& [k, v] : c.kwargs) d.set(k, v);
        return c.in.make_namespace(std::move(d));
    });
    g.vars["dict"] = Value::function("dict", [](Call& c) {
        Dict d;
        if (c.args.size() > 1 && c.args[1].is_mapping()) d = c.args[1].dict();
        for (const auto& [k, v] : c.kwargs) d.set(k, v);
        return Value(std::move(d));
    });
}

}  // namespace jinja
