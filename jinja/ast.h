// The parsed template: expressions and statements, as the parser (jinja/parser.cpp) builds
// them and the interpreter (jinja/interpreter.cpp) walks them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        literal,    // value
        name,       // name
        list,       // args
        tuple,      // args
        dict,       // args: key, value, key, value...
        attr,       // args[0].name
        item,       // args[0][args[1]]
        slice,      // args[0][args[1]:args[2]:args[3]] (null parts absent)
        call,       // args[0](args[1..], kwargs)
        filter,     // name: args[0] | name(args[1..], kwargs)
        test,       // name: args[0] is [not] name(args[1..]); negated
        unary,      // name ("-", "+", "not"): args[0]
        binary,     // name (+ - * / // % ** ~ and or in "not in"): args[0], args[1]
        compare,    // ops: args[0] op[0] args[1] op[1] args[2] ...
        cond,       // args[1] if args[0] else args[2] (absent: undefined)
    };
    Kind kind;
    int line = 0;
    Value value;
    std::string name;
    bool negated = false;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
    enum class Kind {
        text,      // text
        output,    // expr
        if_,       // conds[i] -> bodies[i]; else_body
        for_,      // targets in expr [if cond]: body; else_body
        set,       // targets = expr; or attr: targets[0].attr = expr; or block: targets[0] = render(body)
        macro,     // name(params with defaults): body
        call_block,  // {% call macro(...) %}body{% endcall %}: expr is the call, body is caller()
        filter_block,  // {% filter f %}body: expr is the filter applied to a placeholder
        break_,
        continue_,
        scope,     // body ({% generation %})
    };
    Kind kind;
    int line = 0;
    std::string text;
    ExprPtr expr, cond;
    std::vector<ExprPtr> conds;
    std::vector<Body> bodies;
    Body body, else_body;
    std::vector<std::string> targets;
    std::string attr;
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and defaults (may be null)
};

}  // namespace jinja
