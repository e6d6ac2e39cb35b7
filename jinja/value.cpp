#include "jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace jinja {

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value v) {
    for (auto& [k, old] : items)
        if (k == key) {
            old = std::move(v);
            return;
        }
    items.emplace_back(key, std::move(v));
}

Value Value::from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return none();
        case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List l;
            l.reserve(j.size());
            for (const auto& e : j) l.push_back(from_json(e));
            return Value(std::move(l));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            d.items.reserve(j.size());
            for (const auto& [k, v] : j.items()) d.items.emplace_back(k, from_json(v));
            return Value(std::move(d));
        }
        default: return none();
    }
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::undefined:
        case Kind::none: return false;
        case Kind::boolean:
        case Kind::integer: return int_ != 0;
        case Kind::floating: return float_ != 0.0;
        case Kind::string: return !str_->empty();
        case Kind::list: return generator_ || !list_->empty();
        case Kind::dict: return !dict_->items.empty();
        case Kind::ns:
        case Kind::function: return true;
    }
    return false;
}

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
    // Shortest round-trip digits in scientific form, then laid out as Python's repr does:
    // positional when the exponent is in [-4, 16), scientific otherwise.
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string s(buf, r.ptr);
    const size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    const int exp = std::stoi(s.substr(e + 1));
    const bool neg = mant[0] == '-';
    if (neg) mant.erase(0, 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    std::string out;
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
        } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
            out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
        } else {
            out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
        }
    } else {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        out += eb;
    }
    return neg ? "-" + out : out;
}

uint32_t next_code_point(const std::string& s, size_t& i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    bool ok = n >= 0 && i + static_cast<size_t>(n) < s.size();
    for (int k = 1; ok && k <= n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
        ++i;
        return c;
    }
    uint32_t cp = n == 0 ? c : c & (0x3Fu >> n);
    for (int k = 1; k <= n; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += static_cast<size_t>(n) + 1;
    return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {

std::string string_repr(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
    const char q = has_single && !has_double ? '"' : '\'';
    std::string out(1, q);
    for (size_t i = 0; i < s.size();) {
        const size_t start = i;
        const uint32_t cp = next_code_point(s, i);
        char buf[12];
        if (cp == '\\') out += "\\\\";
        else if (cp == static_cast<uint32_t>(q)) out += std::string("\\") + q;
        else if (cp == '\n') out += "\\n";
        else if (cp == '\r') out += "\\r";
        else if (cp == '\t') out += "\\t";
        else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            std::snprintf(buf, sizeof buf, "\\x%02x", cp);
            out += buf;
        } else out.append(s, start, i - start);
    }
    return out + q;
}

void json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else out += static_cast<char>(c);
        }
    }
    out += '"';
}

}  // namespace

std::string Value::to_str() const {
    switch (kind_) {
        case Kind::undefined: return "";
        case Kind::string: return *str_;
        default: return repr();
    }
}

std::string Value::repr() const {
    switch (kind_) {
        case Kind::undefined: return "";
        case Kind::none: return "None";
        case Kind::boolean: return int_ ? "True" : "False";
        case Kind::integer: return std::to_string(int_);
        case Kind::floating: return float_repr(float_);
        case Kind::string: return string_repr(*str_);
        case Kind::list: {
            if (generator_) return "<generator object>";
            std::string out = tuple_ ? "(" : "[";
            for (size_t i = 0; i < list_->size(); ++i) out += (i ? ", " : "") + (*list_)[i].repr();
            if (tuple_ && list_->size() == 1) out += ",";
            return out + (tuple_ ? ")" : "]");
        }
        case Kind::dict:
        case Kind::ns: {
            std::string out = kind_ == Kind::ns ? "<Namespace {" : "{";
            bool first = true;
            for (const auto& [k, v] : dict_->items) {
                out += (first ? "" : ", ") + string_repr(k) + ": " + v.repr();
                first = false;
            }
            return out + (kind_ == Kind::ns ? "}>" : "}");
        }
        case Kind::function: return "<function " + *str_ + ">";
    }
    return "";
}

std::string Value::type_name() const {
    switch (kind_) {
        case Kind::undefined: return "Undefined";
        case Kind::none: return "NoneType";
        case Kind::boolean: return "bool";
        case Kind::integer: return "int";
        case Kind::floating: return "float";
        case Kind::string: return "str";
        case Kind::list: return generator_ ? "generator" : tuple_ ? "tuple" : "list";
        case Kind::dict: return "dict";
        case Kind::ns: return "Namespace";
        case Kind::function: return "function";
    }
    return "";
}

void Value::to_json(std::string& out, const JsonStyle& style, int depth) const {
    const auto newline = [&](int d) {
        if (style.indent < 0) return;
        out += '\n';
        out.append(static_cast<size_t>(style.indent * d), ' ');
    };
    switch (kind_) {
        case Kind::none: out += "null"; return;
        case Kind::boolean: out += int_ ? "true" : "false"; return;
        case Kind::integer: out += std::to_string(int_); return;
        case Kind::floating:
            if (std::isnan(float_)) out += "NaN";
            else if (std::isinf(float_)) out += float_ < 0 ? "-Infinity" : "Infinity";
            else out += float_repr(float_);
            return;
        case Kind::string: json_string(out, *str_); return;
        case Kind::list: {
            if (generator_) throw Error("Object of type generator is not JSON serializable");
            if (list_->empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < list_->size(); ++i) {
                if (i) out += style.item_sep;
                newline(depth + 1);
                (*list_)[i].to_json(out, style, depth + 1);
            }
            newline(depth);
            out += ']';
            return;
        }
        case Kind::dict: {
            if (dict_->items.empty()) {
                out += "{}";
                return;
            }
            std::vector<const std::pair<std::string, Value>*> order;
            for (const auto& kv : dict_->items) order.push_back(&kv);
            if (style.sort_keys)
                std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
            out += '{';
            for (size_t i = 0; i < order.size(); ++i) {
                if (i) out += style.item_sep;
                newline(depth + 1);
                json_string(out, order[i]->first);
                out += style.key_sep;
                order[i]->second.to_json(out, style, depth + 1);
            }
            newline(depth);
            out += '}';
            return;
        }
        default: throw Error("Object of type " + type_name() + " is not JSON serializable");
    }
}

bool equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Value::Kind::floating || b.kind() == Value::Kind::floating) return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::undefined:
        case Value::Kind::none: return true;
        case Value::Kind::string: return a.str() == b.str();
        case Value::Kind::list: {
            if (a.list().size() != b.list().size()) return false;
            for (size_t i = 0; i < a.list().size(); ++i)
                if (!equal(a.list()[i], b.list()[i])) return false;
            return true;
        }
        case Value::Kind::dict: {
            if (a.dict().items.size() != b.dict().items.size()) return false;
            for (const auto& [k, v] : a.dict().items) {
                const Value* o = b.dict().find(k);
                if (o == nullptr || !equal(v, *o)) return false;
            }
            return true;
        }
        default: return &a.dict() == &b.dict();
    }
}

bool less(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Value::Kind::floating || b.kind() == Value::Kind::floating) return a.as_float() < b.as_float();
        return a.as_int() < b.as_int();
    }
    if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 order is code point order
    if (a.is_list() && b.is_list()) {
        const List &x = a.list(), &y = b.list();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (less(x[i], y[i])) return true;
            if (less(y[i], x[i])) return false;
        }
        return x.size() < y.size();
    }
    throw Error("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace jinja
