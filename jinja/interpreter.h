// The tree walker behind Template::render, and what the built-in filters, tests, methods and
// globals (jinja/builtins.cpp) need of it.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "jinja/ast.h"
#include "jinja/template.h"
#include "jinja/value.h"

namespace jinja {

class Interpreter;

// The arguments of a call to a global, method, filter, test or macro.
struct Call {
    Interpreter& in;
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kwargs;

    // Argument i, or the keyword `name`, or fallback.
    Value get(size_t i, const char* name, Value fallback = Value()) const;
    const Value* keyword(const char* name) const;
};

struct Frame {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Frame> parent;
};
using FramePtr = std::shared_ptr<Frame>;

class Interpreter {
public:
    Interpreter(const RenderOptions& options) : options_(options) {}

    std::string render(const Body& body, const nlohmann::ordered_json& variables);

    // For the built-ins.
    Value call(const Value& fn, Call& args);
    Value getattr(const Value& obj, const std::string& name);
    std::vector<Value> iterate(const Value& v);
    Value apply_filter(const std::string& name, Call& args);  // args[0] is the input
    bool apply_test(const std::string& name, Call& args);     // args[0] is the value tested
    const RenderOptions& options() const { return options_; }
    // Throws when a string built by the template would pass the output limit.
    void check_size(size_t bytes) const;
    void step();
    // A namespace object, emptied when the render ends (see render()).
    Value make_namespace(Dict d);

private:
    enum class Flow { normal, break_, continue_ };
    Flow exec(const Body& body, const FramePtr& frame, std::string& out);
    Flow exec(const Node& n, const FramePtr& frame, std::string& out);
    Value eval(const Expr& e, const FramePtr& frame);
    Value lookup(const std::string& name, const FramePtr& frame) const;
    Value binary(const std::string& op, const Value& a, const Value& b);
    Value item(const Value& obj, const Value& key);
    Value slice(const Value& obj, const Value* start, const Value* stop, const Value* step);
    Value make_macro(const Node& n, const FramePtr& frame);
    void exec_for(const Node& n, const FramePtr& frame, std::string& out);
    void emit(std::string& out, const std::string& text);

    RenderOptions options_;
    FramePtr globals_;
    std::vector<Value> namespaces_;
    size_t steps_ = 0;
    int calls_ = 0;
    int line_ = 0;
};

// Built-ins (jinja/builtins.cpp).
using FilterFn = Value (*)(Call&);
using TestFn = bool (*)(Call&);
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);
// A method of a string, list or dict bound to it, or an undefined value if it has none.
Value find_method(const Value& obj, const std::string& name);
// raise_exception, strftime_now, range, namespace, dict.
void add_globals(Frame& globals);

// Python's str.strip family: whitespace (Unicode's, as str.isspace) or the given characters.
std::string strip(const std::string& s, const Value& chars, bool left, bool right);

}  // namespace jinja
