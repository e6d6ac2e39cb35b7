// The values a template computes with, as Python has them under jinja2: undefined, None,
// booleans, integers, floats, strings, lists (and tuples), dicts that keep insertion order,
// namespaces, and callables (macros, globals, bound methods). Lists and dicts are immutable
// once built (the sandbox forbids mutating them), so values share them freely; a namespace is
// the one mutable object, shared by reference as in Python.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace jinja {

// An error while parsing or rendering: a message, and the template line (0: unknown).
class Error : public std::runtime_error {
public:
    Error(const std::string& message, int line = 0) : std::runtime_error(message), line_(line) {}
    int line() const { return line_; }

private:
    int line_;
};

// raise_exception(message) called by the template: the message is the template's own.
class Raised : public Error {
public:
    using Error::Error;
};

// json.dumps's layout: indent < 0 for one line; separators; sort_keys.
struct JsonStyle {
    int indent = -1;
    std::string item_sep = ", ", key_sep = ": ";
    bool sort_keys = false;
};

class Value;
using List = std::vector<Value>;
struct Dict {
    std::vector<std::pair<std::string, Value>> items;  // insertion order
    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value v);
};
struct Call;  // arguments of a call, see interpreter
using Function = std::function<Value(Call&)>;

class Value {
public:
    enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, ns, function };

    Value() = default;  // undefined
    static Value undefined(std::string why) {
        Value v;
        v.str_ = std::make_shared<const std::string>(std::move(why));
        return v;
    }
    static Value none() { return Value(Kind::none); }
    Value(bool b) : kind_(Kind::boolean), int_(b) {}
    Value(int64_t i) : kind_(Kind::integer), int_(i) {}
    Value(int i) : Value(static_cast<int64_t>(i)) {}
    Value(size_t i) : Value(static_cast<int64_t>(i)) {}
    Value(double d) : kind_(Kind::floating), float_(d) {}
    Value(std::string s) : kind_(Kind::string), str_(std::make_shared<const std::string>(std::move(s))) {}
    Value(const char* s) : Value(std::string(s)) {}
    Value(List l, bool tuple = false)
        : kind_(Kind::list), tuple_(tuple), list_(std::make_shared<const List>(std::move(l))) {}
    Value(Dict d) : kind_(Kind::dict), dict_(std::make_shared<Dict>(std::move(d))) {}
    // What map, select and the like return in jinja2: iterable, always true, but not a list.
    static Value generator(List l) {
        Value v(std::move(l));
        v.generator_ = true;
        return v;
    }
    static Value namespace_of(Dict d) {
        Value v(std::move(d));
        v.kind_ = Kind::ns;
        return v;
    }
    static Value function(std::string name, Function f) {
        Value v(Kind::function);
        v.str_ = std::make_shared<const std::string>(std::move(name));
        v.fn_ = std::make_shared<const Function>(std::move(f));
        return v;
    }
    static Value from_json(const nlohmann::ordered_json& j);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::undefined; }
    bool is_none() const { return kind_ == Kind::none; }
    bool is_string() const { return kind_ == Kind::string; }
    bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::floating || kind_ == Kind::boolean; }
    bool is_list() const { return kind_ == Kind::list && !generator_; }
    bool is_iterable_list() const { return kind_ == Kind::list; }  // lists, tuples and generators
    bool is_generator() const { return kind_ == Kind::list && generator_; }
    bool is_tuple() const { return kind_ == Kind::list && tuple_; }
    bool is_dict() const { return kind_ == Kind::dict; }
    bool is_mapping() const { return kind_ == Kind::dict || kind_ == Kind::ns; }
    bool is_function() const { return kind_ == Kind::function; }

    bool as_bool() const { return int_ != 0; }
    int64_t as_int() const { return kind_ == Kind::floating ? static_cast<int64_t>(float_) : int_; }
    double as_float() const { return kind_ == Kind::floating ? float_ : static_cast<double>(int_); }
    const std::string& str() const { return *str_; }  // strings; an undefined's reason
    const List& list() const { return *list_; }
    const Dict& dict() const { return *dict_; }
    Dict& namespace_dict() const { return *dict_; }  // namespaces only
    const Function& fn() const { return *fn_; }
    const std::string& fn_name() const { return *str_; }

    // Python's bool(), str(), repr() and json.dumps(ensure_ascii=False).
    bool truthy() const;
    std::string to_str() const;
    std::string repr() const;
    void to_json(std::string& out, const struct JsonStyle& style, int depth = 0) const;
    // The Python type name, for messages.
    std::string type_name() const;

private:
    explicit Value(Kind k) : kind_(k) {}
    Kind kind_ = Kind::undefined;
    bool tuple_ = false;
    bool generator_ = false;
    int64_t int_ = 0;
    double float_ = 0.0;
    std::shared_ptr<const std::string> str_;
    std::shared_ptr<const List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<const Function> fn_;
};

// Python's ==, and < for sorting and comparisons (throws for unorderable types).
bool equal(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);

// Python's float repr: the shortest digits that read back the same.
std::string float_repr(double d);

// UTF-8: the code point at s[i] (a stray byte as itself), advancing i; and its encoding.
uint32_t next_code_point(const std::string& s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);

}  // namespace jinja
