#include "jinja/interpreter.h"

#include <cmath>

#include "jinja/lexer.h"
#include "jinja/parser.h"

namespace jinja {

Value Call::get(size_t i, const char* name, Value fallback) const {
    if (i < args.size()) return args[i];
    if (const Value* v = keyword(name)) return *v;
    return fallback;
}

const Value* Call::keyword(const char* name) const {
    for (const auto& [k, v] : kwargs)
        if (k == name) return &v;
    return nullptr;
}

namespace {

[[noreturn]] void fail_undefined(const Value& v) {
    throw Error(v.str().empty() ? "undefined value" : v.str());
}

// a op b for ints, refusing what does not fit 64 bits (Python's would grow).
template <bool (*op)(int64_t, int64_t, int64_t*)>
int64_t checked(int64_t a, int64_t b) {
    int64_t r;
    if (op(a, b, &r)) throw Error("integer overflow");
    return r;
}
bool add(int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }
bool sub(int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }
bool mul(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

// Python's slice indices for a sequence of n.
std::vector<size_t> slice_indices(int64_t n, const Value* start, const Value* stop, const Value* step) {
    const auto num = [](const Value* v) { return v != nullptr && !v->is_none(); };
    const int64_t st = num(step) ? step->as_int() : 1;
    if (st == 0) throw Error("slice step cannot be zero");
    const auto clamp = [&](const Value* v, int64_t dflt) {
        if (!num(v)) return dflt;
        int64_t i = v->as_int();
        if (i < 0) i += n;
        if (st > 0) return std::clamp<int64_t>(i, 0, n);
        return std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t a = clamp(start, st > 0 ? 0 : n - 1), b = clamp(stop, st > 0 ? n : -1);
    std::vector<size_t> out;
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) out.push_back(static_cast<size_t>(i));
    return out;
}

bool contains(const Value& container, const Value& x) {
    if (container.is_string()) {
        if (!x.is_string()) throw Error("'in <string>' requires string as left operand, not " + x.type_name());
        return container.str().find(x.str()) != std::string::npos;
    }
    if (container.is_iterable_list()) {
        for (const Value& v : container.list())
            if (equal(v, x)) return true;
        return false;
    }
    if (container.is_mapping()) return x.is_string() && container.dict().find(x.str()) != nullptr;
    if (container.is_undefined()) return false;  // it iterates as empty
    throw Error("argument of type '" + container.type_name() + "' is not iterable");
}

}  // namespace

void Interpreter::step() {
    if (++steps_ > options_.max_steps)
        throw Error("the template took more than " + std::to_string(options_.max_steps) + " steps (a loop that does not end?)");
}

void Interpreter::check_size(size_t bytes) const {
    if (bytes > options_.max_output)
        throw Error("the template built more than " + std::to_string(options_.max_output) + " bytes of text");
}

void Interpreter::emit(std::string& out, const std::string& text) {
    out += text;
    check_size(out.size());
}

std::string Interpreter::render(const Body& body, const nlohmann::ordered_json& variables) {
    globals_ = std::make_shared<Frame>();
    add_globals(*globals_);
    auto top = std::make_shared<Frame>();
    top->parent = globals_;
    if (variables.is_object())
        for (const auto& [k, v] : variables.items()) top->vars[k] = Value::from_json(v);
    std::string out;
    // Namespaces are the one mutable object, so only they can hold themselves: emptied at the
    // end, whatever happened, so that no cycle outlives the render.
    struct Release {
        std::vector<Value>& namespaces;
        ~Release() {
            for (Value& ns : namespaces) ns.namespace_dict().items.clear();
        }
    } release{namespaces_};
    try {
        exec(body, top, out);
    } catch (const Raised&) {
        throw;
    } catch (const Error& e) {
        if (e.line() != 0) throw;
        throw Error(e.what(), line_);
    }
    return out;
}

Value Interpreter::make_namespace(Dict d) {
    namespaces_.push_back(Value::namespace_of(std::move(d)));
    return namespaces_.back();
}

Interpreter::Flow Interpreter::exec(const Body& body, const FramePtr& frame, std::string& out) {
    for (const NodePtr& n : body) {
        const Flow f = exec(*n, frame, out);
        if (f != Flow::normal) return f;
    }
    return Flow::normal;
}

Interpreter::Flow Interpreter::exec(const Node& n, const FramePtr& frame, std::string& out) {
    step();
    line_ = n.line;
    switch (n.kind) {
        case Node::Kind::text: emit(out, n.text); break;
        case Node::Kind::output: emit(out, eval(*n.expr, frame).to_str()); break;
        case Node::Kind::if_:
            for (size_t i = 0; i < n.conds.size(); ++i)
                if (eval(*n.conds[i], frame).truthy()) return exec(n.bodies[i], frame, out);
            return exec(n.else_body, frame, out);
        case Node::Kind::for_: exec_for(n, frame, out); break;
        case Node::Kind::set: {
            Value v;
            if (!n.body.empty() || !n.expr) {
                std::string s;
                auto inner = std::make_shared<Frame>();
                inner->parent = frame;
                exec(n.body, inner, s);
                v = Value(std::move(s));
                if (n.expr) {
                    inner->vars["\x01body"] = v;
                    v = eval(*n.expr, inner);
                }
            } else v = eval(*n.expr, frame);
            if (!n.attr.empty()) {
                const Value ns = lookup(n.targets[0], frame);
                if (ns.kind() != Value::Kind::ns) throw Error("cannot assign attribute on non-namespace object '" + n.targets[0] + "'");
                ns.namespace_dict().set(n.attr, std::move(v));
            } else if (n.targets.size() == 1) {
                frame->vars[n.targets[0]] = std::move(v);
            } else {
                const std::vector<Value> parts = iterate(v);
                if (parts.size() != n.targets.size())
                    throw Error("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(n.targets.size()) + " names");
                for (size_t i = 0; i < parts.size(); ++i) frame->vars[n.targets[i]] = parts[i];
            }
            break;
        }
        case Node::Kind::macro: frame->vars[n.text] = make_macro(n, frame); break;
        case Node::Kind::call_block: {
            const Expr& ce = *n.expr;
            const Value fn = eval(*ce.args[0], frame);
            Call c{*this, {Value()}, {}};
            for (size_t i = 1; i < ce.args.size(); ++i) c.args.push_back(eval(*ce.args[i], frame));
            for (const auto& [k, e] : ce.kwargs) c.kwargs.emplace_back(k, eval(*e, frame));
            const Node* body = &n;
            c.kwargs.emplace_back("caller", Value::function("caller", [body, weak = std::weak_ptr<Frame>(frame)](Call& cc) {
                const FramePtr outer = weak.lock();
                if (!outer) throw Error("caller() called after its call block ended");
                std::string s;
                auto inner = std::make_shared<Frame>();
                inner->parent = outer;
                cc.in.exec(body->body, inner, s);
                return Value(std::move(s));
            }));
            emit(out, call(fn, c).to_str());
            break;
        }
        case Node::Kind::filter_block: {
            std::string s;
            auto inner = std::make_shared<Frame>();
            inner->parent = frame;
            exec(n.body, inner, s);
            inner->vars["\x01body"] = Value(std::move(s));
            emit(out, eval(*n.expr, inner).to_str());
            break;
        }
        case Node::Kind::break_: return Flow::break_;
        case Node::Kind::continue_: return Flow::continue_;
        case Node::Kind::scope: {
            auto inner = std::make_shared<Frame>();
            inner->parent = frame;
            return exec(n.body, inner, out);
        }
    }
    return Flow::normal;
}

void Interpreter::exec_for(const Node& n, const FramePtr& frame, std::string& out) {
    std::vector<Value> items = iterate(eval(*n.expr, frame));
    const auto bind = [&](Frame& f, const Value& item) {
        if (n.targets.size() == 1) {
            f.vars[n.targets[0]] = item;
            return;
        }
        const std::vector<Value> parts = iterate(item);
        if (parts.size() != n.targets.size())
            throw Error("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(n.targets.size()) + " loop variables");
        for (size_t i = 0; i < parts.size(); ++i) f.vars[n.targets[i]] = parts[i];
    };
    if (n.cond) {
        std::vector<Value> kept;
        for (Value& item : items) {
            step();
            auto probe = std::make_shared<Frame>();
            probe->parent = frame;
            bind(*probe, item);
            if (eval(*n.cond, probe).truthy()) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        auto inner = std::make_shared<Frame>();
        inner->parent = frame;
        exec(n.else_body, inner, out);
        return;
    }
    const size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
        step();
        auto inner = std::make_shared<Frame>();
        inner->parent = frame;
        bind(*inner, items[i]);
        Dict loop;
        loop.items = {{"index", Value(i + 1)},
                      {"index0", Value(i)},
                      {"revindex", Value(len - i)},
                      {"revindex0", Value(len - i - 1)},
                      {"first", Value(i == 0)},
                      {"last", Value(i + 1 == len)},
                      {"length", Value(len)},
                      {"depth", Value(1)},
                      {"depth0", Value(0)},
                      {"previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item")},
                      {"nextitem", i + 1 < len ? items[i + 1] : Value::undefined("there is no next item")}};
        loop.items.emplace_back("cycle", Value::function("cycle", [i](Call& c) {
            if (c.args.size() < 2) throw Error("no items for cycling given");
            return c.args[1 + i % (c.args.size() - 1)];
        }));
        inner->vars["loop"] = make_namespace(std::move(loop));
        const Flow f = exec(n.body, inner, out);
        if (f == Flow::break_) break;
    }
}

Value Interpreter::make_macro(const Node& n, const FramePtr& frame) {
    const Node* node = &n;
    // The frame holds the macro, so the macro holds the frame weakly (no cycle to leak).
    return Value::function(n.text, [node, weak = std::weak_ptr<Frame>(frame)](Call& c) {
        Interpreter& in = c.in;
        const FramePtr frame = weak.lock();
        if (!frame) throw Error("macro '" + node->text + "' called after the scope it was defined in ended");
        if (++in.calls_ > in.options_.max_calls)
            throw Error("macro calls nest deeper than " + std::to_string(in.options_.max_calls) + " (unbounded recursion?)");
        struct Leave {
            int& calls;
            ~Leave() { --calls; }
        } leave{in.calls_};
        auto inner = std::make_shared<Frame>();
        inner->parent = frame;
        const auto& params = node->params;
        if (c.args.size() - 1 > params.size())
            throw Error("macro '" + node->text + "' takes " + std::to_string(params.size()) + " arguments, " +
                        std::to_string(c.args.size() - 1) + " given");
        for (size_t i = 0; i < params.size(); ++i) {
            const auto& [name, def] = params[i];
            if (i + 1 < c.args.size()) inner->vars[name] = c.args[i + 1];
            else if (const Value* k = c.keyword(name.c_str())) inner->vars[name] = *k;
            else if (def) inner->vars[name] = in.eval(*def, inner);
            else inner->vars[name] = Value::undefined("parameter '" + name + "' was not provided");
        }
        for (const auto& [k, v] : c.kwargs) {
            if (k == "caller") {
                inner->vars["caller"] = v;
                continue;
            }
            bool known = false;
            for (const auto& p : params) known = known || p.first == k;
            if (!known) throw Error("macro '" + node->text + "' takes no keyword argument '" + k + "'");
        }
        std::string s;
        in.exec(node->body, inner, s);
        return Value(std::move(s));
    });
}

Value Interpreter::lookup(const std::string& name, const FramePtr& frame) const {
    for (const Frame* f = frame.get(); f != nullptr; f = f->parent.get()) {
        const auto it = f->vars.find(name);
        if (it != f->vars.end()) return it->second;
    }
    return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::call(const Value& fn, Call& args) {
    if (fn.is_undefined()) fail_undefined(fn);
    if (!fn.is_function()) throw Error("'" + fn.type_name() + "' object is not callable");
    return fn.fn()(args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
    switch (obj.kind()) {
        case Value::Kind::undefined: fail_undefined(obj);
        case Value::Kind::dict: {
            Value m = find_method(obj, name);
            if (m.is_function()) return m;
            if (const Value* v = obj.dict().find(name)) return *v;
            return Value::undefined("'dict object' has no attribute '" + name + "'");
        }
        case Value::Kind::ns: {
            if (const Value* v = obj.dict().find(name)) return *v;
            return Value::undefined("'Namespace' object has no attribute '" + name + "'");
        }
        case Value::Kind::string:
        case Value::Kind::list: return find_method(obj, name);
        case Value::Kind::none: return Value::undefined("'None' has no attribute '" + name + "'");
        default: return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
    }
}

Value Interpreter::item(const Value& obj, const Value& key) {
    switch (obj.kind()) {
        case Value::Kind::undefined: fail_undefined(obj);
        case Value::Kind::dict:
        case Value::Kind::ns: {
            if (key.is_string())
                if (const Value* v = obj.dict().find(key.str())) return *v;
            if (key.is_string() && obj.is_dict()) {
                Value m = find_method(obj, key.str());
                if (m.is_function()) return m;
            }
            return Value::undefined("'dict object' has no attribute '" + key.to_str() + "'");
        }
        case Value::Kind::list:
        case Value::Kind::string: {
            if (obj.is_generator()) throw Error("'generator' object is not subscriptable");
            if (key.is_string()) return getattr(obj, key.str());
            if (key.kind() != Value::Kind::integer && key.kind() != Value::Kind::boolean)
                throw Error(obj.type_name() + " indices must be integers or slices, not " + key.type_name());
            const std::vector<Value> elems = obj.is_list() ? obj.list() : iterate(obj);
            int64_t i = key.as_int();
            const auto n = static_cast<int64_t>(elems.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value::undefined(obj.type_name() + " object has no element " + key.to_str());
            return elems[static_cast<size_t>(i)];
        }
        default: return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + key.to_str() + "'");
    }
}

Value Interpreter::slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
    if (obj.is_undefined()) fail_undefined(obj);
    if (!obj.is_list() && !obj.is_string()) throw Error("'" + obj.type_name() + "' object is not subscriptable");  // generators too
    const std::vector<Value> elems = obj.is_list() ? obj.list() : iterate(obj);
    const std::vector<size_t> idx = slice_indices(static_cast<int64_t>(elems.size()), start, stop, step);
    if (obj.is_string()) {
        std::string s;
        for (size_t i : idx) s += elems[i].str();
        return Value(std::move(s));
    }
    List out;
    for (size_t i : idx) out.push_back(elems[i]);
    return Value(std::move(out), obj.is_tuple());
}

std::vector<Value> Interpreter::iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::undefined: return {};
        case Value::Kind::list: return v.list();  // generators too
        case Value::Kind::dict: {
            std::vector<Value> keys;
            for (const auto& kv : v.dict().items) keys.emplace_back(kv.first);
            return keys;
        }
        case Value::Kind::string: {
            std::vector<Value> chars;
            const std::string& s = v.str();
            for (size_t i = 0; i < s.size();) {
                const size_t start = i;
                next_code_point(s, i);
                chars.emplace_back(s.substr(start, i - start));
            }
            return chars;
        }
        default: throw Error("'" + v.type_name() + "' object is not iterable");
    }
}

Value Interpreter::apply_filter(const std::string& name, Call& args) {
    const FilterFn f = find_filter(name);
    if (f == nullptr) throw Error("no filter named '" + name + "'");
    return f(args);
}

bool Interpreter::apply_test(const std::string& name, Call& args) {
    const TestFn t = find_test(name);
    if (t == nullptr) throw Error("no test named '" + name + "'");
    return t(args);
}

Value Interpreter::binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string s = a.to_str() + b.to_str();
        check_size(s.size());
        return Value(std::move(s));
    }
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    const bool ints = (a.kind() == Value::Kind::integer || a.kind() == Value::Kind::boolean) &&
                      (b.kind() == Value::Kind::integer || b.kind() == Value::Kind::boolean);
    const bool nums = a.is_number() && b.is_number();
    const auto unsupported = [&]() -> Error {
        return Error("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
    };
    if (op == "+") {
        if (ints) return Value(checked<add>(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_float() + b.as_float());
        if (a.is_string() && b.is_string()) {
            check_size(a.str().size() + b.str().size());
            return Value(a.str() + b.str());
        }
        if (a.is_list() && b.is_list()) {
            check_size((a.list().size() + b.list().size()) * sizeof(Value));
            List l = a.list();
            l.insert(l.end(), b.list().begin(), b.list().end());
            return Value(std::move(l), a.is_tuple());
        }
        if (a.is_string()) throw Error("can only concatenate str (not \"" + b.type_name() + "\") to str");
        throw unsupported();
    }
    if (op == "-") {
        if (ints) return Value(checked<sub>(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_float() - b.as_float());
        throw unsupported();
    }
    if (op == "*") {
        if (ints) return Value(checked<mul>(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_float() * b.as_float());
        const Value* seq = a.is_string() || a.is_list() ? &a : &b;
        const Value* times = seq == &a ? &b : &a;
        if ((seq->is_string() || seq->is_list()) && (times->kind() == Value::Kind::integer || times->kind() == Value::Kind::boolean)) {
            const int64_t n = std::max<int64_t>(0, times->as_int());
            const size_t unit = seq->is_string() ? seq->str().size() : seq->list().size() * sizeof(Value);
            if (unit != 0 && static_cast<uint64_t>(n) > options_.max_output / unit) check_size(options_.max_output + 1);
            if (seq->is_string()) {
                std::string s;
                for (int64_t i = 0; i < n; ++i) s += seq->str();
                return Value(std::move(s));
            }
            List l;
            for (int64_t i = 0; i < n; ++i) l.insert(l.end(), seq->list().begin(), seq->list().end());
            return Value(std::move(l), seq->is_tuple());
        }
        throw unsupported();
    }
    if (op == "/") {
        if (!nums) throw unsupported();
        if (b.as_float() == 0.0) throw Error("division by zero");
        return Value(a.as_float() / b.as_float());
    }
    if (op == "//" || op == "%") {
        if (op == "%" && a.is_string()) {
            List rest = b.is_tuple() ? b.list() : List{b};
            rest.insert(rest.begin(), a);
            Call fc{*this, std::move(rest), {}};
            return apply_filter("format", fc);
        }
        if (!nums) throw unsupported();
        if (ints) {
            const int64_t x = a.as_int(), y = b.as_int();
            if (y == 0) throw Error("integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) throw Error("integer overflow");
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                --q;
                m += y;
            }
            return Value(op == "//" ? q : m);
        }
        const double x = a.as_float(), y = b.as_float();
        if (y == 0.0) throw Error("float division by zero");
        if (op == "//") return Value(std::floor(x / y));
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value(m);
    }
    if (op == "**") {
        if (!nums) throw unsupported();
        if (ints && b.as_int() >= 0) {
            int64_t result = 1, base = a.as_int();
            for (int64_t e = b.as_int(); e > 0; --e) {
                result = checked<mul>(result, base);
                if (result == 0 || result == 1) break;
            }
            return Value(result);
        }
        return Value(std::pow(a.as_float(), b.as_float()));
    }
    throw Error("unknown operator " + op);
}

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
    step();
    if (e.line) line_ = e.line;
    switch (e.kind) {
        case Expr::Kind::literal: return e.value;
        case Expr::Kind::name: return lookup(e.name, frame);
        case Expr::Kind::list:
        case Expr::Kind::tuple: {
            List l;
            for (const ExprPtr& x : e.args) l.push_back(eval(*x, frame));
            return Value(std::move(l), e.kind == Expr::Kind::tuple);
        }
        case Expr::Kind::dict: {
            Dict d;
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i], frame).to_str(), eval(*e.args[i + 1], frame));
            return Value(std::move(d));
        }
        case Expr::Kind::attr: return getattr(eval(*e.args[0], frame), e.name);
        case Expr::Kind::item: {
            const Value obj = eval(*e.args[0], frame);
            return item(obj, eval(*e.args[1], frame));
        }
        case Expr::Kind::slice: {
            const Value obj = eval(*e.args[0], frame);
            Value parts[3];
            for (int i = 0; i < 3; ++i)
                if (e.args[1 + i]) parts[i] = eval(*e.args[1 + i], frame);
            return slice(obj, e.args[1] ? &parts[0] : nullptr, e.args[2] ? &parts[1] : nullptr, e.args[3] ? &parts[2] : nullptr);
        }
        case Expr::Kind::call: {
            const Value fn = eval(*e.args[0], frame);
            Call c{*this, {Value()}, {}};
            for (size_t i = 1; i < e.args.size(); ++i) c.args.push_back(eval(*e.args[i], frame));
            for (const auto& [k, x] : e.kwargs) c.kwargs.emplace_back(k, eval(*x, frame));
            const int line = line_;
            Value v = call(fn, c);
            line_ = line;
            return v;
        }
        case Expr::Kind::filter: {
            Call c{*this, {}, {}};
            for (const ExprPtr& x : e.args) c.args.push_back(eval(*x, frame));
            for (const auto& [k, x] : e.kwargs) c.kwargs.emplace_back(k, eval(*x, frame));
            return apply_filter(e.name, c);
        }
        case Expr::Kind::test: {
            Call c{*this, {}, {}};
            for (const ExprPtr& x : e.args) c.args.push_back(eval(*x, frame));
            return Value(apply_test(e.name, c) != e.negated);
        }
        case Expr::Kind::unary: {
            const Value v = eval(*e.args[0], frame);
            if (e.name == "not") return Value(!v.truthy());
            if (v.is_undefined()) fail_undefined(v);
            if (!v.is_number()) throw Error("bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
            if (e.name == "+") return v.kind() == Value::Kind::floating ? v : Value(v.as_int());
            if (v.kind() == Value::Kind::floating) return Value(-v.as_float());
            if (v.as_int() == INT64_MIN) throw Error("integer overflow");
            return Value(-v.as_int());
        }
        case Expr::Kind::binary: {
            if (e.name == "and" || e.name == "or") {
                Value a = eval(*e.args[0], frame);
                if (a.truthy() == (e.name == "or")) return a;
                return eval(*e.args[1], frame);
            }
            const Value a = eval(*e.args[0], frame);
            const Value b = eval(*e.args[1], frame);
            return binary(e.name, a, b);
        }
        case Expr::Kind::compare: {
            Value left = eval(*e.args[0], frame);
            for (size_t i = 0; i < e.ops.size(); ++i) {
                Value right = eval(*e.args[i + 1], frame);
                const std::string& op = e.ops[i];
                bool r;
                if (op == "==") r = equal(left, right);
                else if (op == "!=") r = !equal(left, right);
                else if (op == "in") r = contains(right, left);
                else if (op == "not in") r = !contains(right, left);
                else {
                    if (left.is_undefined()) fail_undefined(left);
                    if (right.is_undefined()) fail_undefined(right);
                    if (op == "<") r = less(left, right);
                    else if (op == ">") r = less(right, left);
                    else if (op == "<=") r = !less(right, left);
                    else r = !less(left, right);
                }
                if (!r) return Value(false);
                left = std::move(right);
            }
            return Value(true);
        }
        case Expr::Kind::cond:
            if (eval(*e.args[0], frame).truthy()) return eval(*e.args[1], frame);
            if (e.args.size() > 2) return eval(*e.args[2], frame);
            return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    return Value();
}

struct Template::Parsed {
    Body body;
};

Template::Template(std::string_view source) : parsed_(std::make_unique<Parsed>(Parsed{parse(tokenize(source))})) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& variables, const RenderOptions& options) const {
    Interpreter in(options);
    return in.render(parsed_->body, variables);
}

}  // namespace jinja
