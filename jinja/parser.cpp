#include "jinja/parser.h"

#include <initializer_list>
#include <string_view>

namespace jinja {

namespace {

// Deeper nesting than this is refused, so that a hostile template cannot exhaust the stack.
constexpr int kMaxNesting = 200;

class Parser {
public:
    explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

    Body parse_template() {
        std::string end;
        Body body = parse_body({}, end);
        return body;
    }

private:
    using T = Token::Type;

    const Token& cur() const { return t_[i_]; }
    const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
    void advance() {
        if (i_ + 1 < t_.size()) ++i_;
    }
    bool is_op(std::string_view op) const { return cur().type == T::op && cur().text == op; }
    bool is_name(std::string_view n) const { return cur().type == T::name && cur().text == n; }
    [[noreturn]] void fail(const std::string& what) const {
        std::string got;
        switch (cur().type) {
            case T::eof: got = "the end of the template"; break;
            case T::block_end: got = "the end of the tag"; break;
            case T::var_end: got = "'}}'"; break;
            case T::text: got = "text"; break;
            default: got = "'" + cur().text + "'";
        }
        throw Error("expected " + what + ", found " + got, cur().line);
    }
    void expect_op(std::string_view op) {
        if (!is_op(op)) fail("'" + std::string(op) + "'");
        advance();
    }
    std::string expect_name() {
        if (cur().type != T::name) fail("a name");
        std::string n = cur().text;
        advance();
        return n;
    }
    void expect_block_end() {
        if (cur().type != T::block_end) fail("'%}'");
        advance();
    }

    struct Depth {
        Parser& p;
        explicit Depth(Parser& parser) : p(parser) {
            if (++p.depth_ > kMaxNesting) throw Error("the template nests deeper than " + std::to_string(kMaxNesting), p.cur().line);
        }
        ~Depth() { --p.depth_; }
    };

    // Statements until one of `ends` (a block tag name), which is consumed with its name left in `end`.
    Body parse_body(std::initializer_list<std::string_view> ends, std::string& end) {
        Depth guard(*this);
        Body body;
        for (;;) {
            const Token& tok = cur();
            if (tok.type == T::eof) {
                if (ends.size() != 0) {
                    std::string list;
                    for (std::string_view e : ends) list += (list.empty() ? "'" : " or '") + std::string(e) + "'";
                    throw Error("unexpected end of template: expected " + list, tok.line);
                }
                return body;
            }
            if (tok.type == T::text) {
                auto n = node(Node::Kind::text);
                n->text = tok.text;
                body.push_back(std::move(n));
                advance();
            } else if (tok.type == T::var_begin) {
                auto n = node(Node::Kind::output);
                advance();
                n->expr = parse_tuple();
                if (cur().type != T::var_end) fail("'}}'");
                advance();
                body.push_back(std::move(n));
            } else if (tok.type == T::block_begin) {
                advance();
                if (cur().type != T::name) fail("a statement name");
                const std::string name = cur().text;
                for (std::string_view e : ends)
                    if (name == e) {
                        end = name;
                        advance();
                        return body;
                    }
                body.push_back(parse_statement());
            } else fail("text or a tag");
        }
    }

    NodePtr node(Node::Kind k) const {
        auto n = std::make_unique<Node>();
        n->kind = k;
        n->line = cur().line;
        return n;
    }

    NodePtr parse_statement() {
        const std::string name = cur().text;
        const int line = cur().line;
        advance();
        std::string end;
        if (name == "if") {
            auto n = node(Node::Kind::if_);
            n->line = line;
            n->conds.push_back(parse_tuple());
            expect_block_end();
            for (;;) {
                n->bodies.push_back(parse_body({"elif", "else", "endif"}, end));
                if (end == "elif") {
                    n->conds.push_back(parse_tuple());
                    expect_block_end();
                } else if (end == "else") {
                    expect_block_end();
                    n->else_body = parse_body({"endif"}, end);
                    expect_block_end();
                    return n;
                } else {
                    expect_block_end();
                    return n;
                }
            }
        }
        if (name == "for") {
            auto n = node(Node::Kind::for_);
            n->line = line;
            n->targets = parse_targets();
            if (!is_name("in")) fail("'in'");
            advance();
            n->expr = parse_tuple(false);
            if (is_name("if")) {
                advance();
                n->cond = parse_expression();
            }
            if (is_name("recursive")) throw Error("recursive for loops are not supported", cur().line);
            expect_block_end();
            n->body = parse_body({"else", "endfor"}, end);
            if (end == "else") {
                expect_block_end();
                n->else_body = parse_body({"endfor"}, end);
            }
            expect_block_end();
            return n;
        }
        if (name == "set") {
            auto n = node(Node::Kind::set);
            n->line = line;
            n->targets.push_back(expect_name());
            if (is_op(".")) {
                advance();
                n->attr = expect_name();
            } else
                while (is_op(",")) {
                    advance();
                    n->targets.push_back(expect_name());
                }
            if (is_op("=")) {
                advance();
                n->expr = parse_tuple();
                expect_block_end();
                return n;
            }
            if (n->targets.size() != 1 || !n->attr.empty()) fail("'='");
            // {% set x %}...{% endset %}, optionally filtered: {% set x | trim %}
            if (is_op("|")) n->expr = parse_filters(placeholder());
            expect_block_end();
            n->body = parse_body({"endset"}, end);
            expect_block_end();
            return n;
        }
        if (name == "macro") {
            auto n = node(Node::Kind::macro);
            n->line = line;
            n->text = expect_name();
            expect_op("(");
            while (!is_op(")")) {
                std::string p = expect_name();
                ExprPtr def;
                if (is_op("=")) {
                    advance();
                    def = parse_expression();
                }
                n->params.emplace_back(std::move(p), std::move(def));
                if (!is_op(",")) break;
                advance();
            }
            expect_op(")");
            expect_block_end();
            n->body = parse_body({"endmacro"}, end);
            if (cur().type == T::name) advance();  // {% endmacro name %}
            expect_block_end();
            return n;
        }
        if (name == "call") {
            auto n = node(Node::Kind::call_block);
            n->line = line;
            if (is_op("(")) throw Error("call blocks with caller arguments are not supported", cur().line);
            n->expr = parse_expression();
            if (n->expr->kind != Expr::Kind::call) throw Error("expected a macro call after 'call'", line);
            expect_block_end();
            n->body = parse_body({"endcall"}, end);
            expect_block_end();
            return n;
        }
        if (name == "filter") {
            auto n = node(Node::Kind::filter_block);
            n->line = line;
            n->expr = parse_filter_chain(placeholder());
            expect_block_end();
            n->body = parse_body({"endfilter"}, end);
            expect_block_end();
            return n;
        }
        if (name == "break" || name == "continue") {
            auto n = node(name == "break" ? Node::Kind::break_ : Node::Kind::continue_);
            n->line = line;
            expect_block_end();
            return n;
        }
        if (name == "generation") {
            auto n = node(Node::Kind::scope);
            n->line = line;
            expect_block_end();
            n->body = parse_body({"endgeneration"}, end);
            expect_block_end();
            return n;
        }
        throw Error("unknown tag '" + name + "'", line);
    }

    std::vector<std::string> parse_targets() {
        std::vector<std::string> names;
        const bool paren = is_op("(");
        if (paren) advance();
        names.push_back(expect_name());
        while (is_op(",")) {
            advance();
            names.push_back(expect_name());
        }
        if (paren) expect_op(")");
        return names;
    }

    ExprPtr expr(Expr::Kind k) const {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = cur().line;
        return e;
    }
    // The value a block filter applies to: the rendered body, bound at run time.
    ExprPtr placeholder() const {
        auto e = expr(Expr::Kind::name);
        e->name = "\x01body";
        return e;
    }

    // An expression, or several separated by commas as a tuple.
    ExprPtr parse_tuple(bool with_cond = true) {
        ExprPtr first = with_cond ? parse_expression() : parse_or();
        if (!is_op(",")) return first;
        auto t = expr(Expr::Kind::tuple);
        t->args.push_back(std::move(first));
        while (is_op(",")) {
            advance();
            if (cur().type == T::block_end || cur().type == T::var_end || is_op(")") || is_op("=")) break;
            t->args.push_back(with_cond ? parse_expression() : parse_or());
        }
        return t;
    }

    ExprPtr parse_expression() {
        Depth guard(*this);
        ExprPtr e = parse_or();
        while (is_name("if")) {
            advance();
            auto c = expr(Expr::Kind::cond);
            c->args.push_back(parse_or());
            c->args.push_back(std::move(e));
            if (is_name("else")) {
                advance();
                c->args.push_back(parse_expression());
            }
            e = std::move(c);
        }
        return e;
    }

    ExprPtr binary(std::string op, ExprPtr a, ExprPtr b) const {
        auto e = expr(Expr::Kind::binary);
        e->name = std::move(op);
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            advance();
            e = binary("or", std::move(e), parse_and());
        }
        return e;
    }
    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            advance();
            e = binary("and", std::move(e), parse_not());
        }
        return e;
    }
    ExprPtr parse_not() {
        if (is_name("not")) {
            Depth guard(*this);
            advance();
            auto e = expr(Expr::Kind::unary);
            e->name = "not";
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        for (;;) {
            std::string op;
            if (cur().type == T::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
                                        cur().text == "<=" || cur().text == ">=")) {
                op = cur().text;
                advance();
            } else if (is_name("in")) {
                op = "in";
                advance();
            } else if (is_name("not") && peek().type == T::name && peek().text == "in") {
                op = "not in";
                advance();
                advance();
            } else break;
            if (!cmp) {
                cmp = expr(Expr::Kind::compare);
                cmp->args.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }
    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = cur().text;
            advance();
            e = binary(op, std::move(e), parse_concat());
        }
        return e;
    }
    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            advance();
            e = binary("~", std::move(e), parse_math2());
        }
        return e;
    }
    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = cur().text;
            advance();
            e = binary(op, std::move(e), parse_pow());
        }
        return e;
    }
    ExprPtr parse_pow() {
        ExprPtr e = parse_unary();
        while (is_op("**")) {
            advance();
            e = binary("**", std::move(e), parse_unary());
        }
        return e;
    }
    ExprPtr parse_unary(bool with_filter = true) {
        Depth guard(*this);
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            e = expr(Expr::Kind::unary);
            e->name = cur().text;
            advance();
            e->args.push_back(parse_unary(false));
        } else {
            e = parse_postfix(parse_primary());
        }
        return with_filter ? parse_filters(std::move(e)) : std::move(e);
    }

    ExprPtr parse_primary() {
        const Token& tok = cur();
        auto e = expr(Expr::Kind::literal);
        switch (tok.type) {
            case T::name: {
                const std::string& n = tok.text;
                if (n == "true" || n == "True") e->value = Value(true);
                else if (n == "false" || n == "False") e->value = Value(false);
                else if (n == "none" || n == "None") e->value = Value::none();
                else {
                    e->kind = Expr::Kind::name;
                    e->name = n;
                }
                advance();
                return e;
            }
            case T::string: {
                std::string s;
                while (cur().type == T::string) {  // adjacent literals join
                    s += cur().text;
                    advance();
                }
                e->value = Value(std::move(s));
                return e;
            }
            case T::integer: e->value = Value(tok.integer); advance(); return e;
            case T::floating: e->value = Value(tok.floating); advance(); return e;
            case T::op:
                if (tok.text == "(") {
                    advance();
                    if (is_op(")")) {
                        advance();
                        e->kind = Expr::Kind::tuple;
                        return e;
                    }
                    ExprPtr inner = parse_expression();
                    if (is_op(",")) {
                        auto t = expr(Expr::Kind::tuple);
                        t->args.push_back(std::move(inner));
                        while (is_op(",")) {
                            advance();
                            if (is_op(")")) break;
                            t->args.push_back(parse_expression());
                        }
                        inner = std::move(t);
                    }
                    expect_op(")");
                    return inner;
                }
                if (tok.text == "[") {
                    advance();
                    e->kind = Expr::Kind::list;
                    while (!is_op("]")) {
                        e->args.push_back(parse_expression());
                        if (!is_op(",")) break;
                        advance();
                    }
                    expect_op("]");
                    return e;
                }
                if (tok.text == "{") {
                    advance();
                    e->kind = Expr::Kind::dict;
                    while (!is_op("}")) {
                        e->args.push_back(parse_expression());
                        expect_op(":");
                        e->args.push_back(parse_expression());
                        if (!is_op(",")) break;
                        advance();
                    }
                    expect_op("}");
                    return e;
                }
                break;
            default: break;
        }
        fail("an expression");
    }

    ExprPtr parse_postfix(ExprPtr e) {
        for (;;) {
            if (is_op(".")) {
                advance();
                if (cur().type == T::integer) {
                    auto item = expr(Expr::Kind::item);
                    auto idx = expr(Expr::Kind::literal);
                    idx->value = Value(cur().integer);
                    advance();
                    item->args.push_back(std::move(e));
                    item->args.push_back(std::move(idx));
                    e = std::move(item);
                    continue;
                }
                auto a = expr(Expr::Kind::attr);
                a->name = expect_name();
                a->args.push_back(std::move(e));
                e = std::move(a);
            } else if (is_op("[")) {
                advance();
                e = parse_subscript(std::move(e));
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else return e;
        }
    }

    ExprPtr parse_subscript(ExprPtr obj) {
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        for (;;) {
            if (is_op(":")) {
                slice = true;
                advance();
                ++n;
                if (n > 2) fail("']'");
                continue;
            }
            if (is_op("]")) break;
            if (parts[n]) fail("':' or ']'");
            parts[n] = parse_expression();
        }
        expect_op("]");
        auto e = expr(slice ? Expr::Kind::slice : Expr::Kind::item);
        e->args.push_back(std::move(obj));
        if (!slice) {
            if (!parts[0]) fail("an index");
            e->args.push_back(std::move(parts[0]));
            return e;
        }
        for (auto& p : parts) e->args.push_back(std::move(p));  // absent parts stay null
        return e;
    }

    // Arguments in parentheses into e->args (after those already there) and e->kwargs.
    void parse_args(Expr& e) {
        expect_op("(");
        while (!is_op(")")) {
            if (cur().type == T::name && peek().type == T::op && peek().text == "=") {
                std::string k = cur().text;
                advance();
                advance();
                e.kwargs.emplace_back(std::move(k), parse_expression());
            } else {
                if (!e.kwargs.empty()) fail("a keyword argument (positional ones come first)");
                e.args.push_back(parse_expression());
            }
            if (!is_op(",")) break;
            advance();
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto e = expr(Expr::Kind::call);
        e->args.push_back(std::move(callee));
        parse_args(*e);
        return e;
    }

    // | filter and is test after a value, any number of them.
    ExprPtr parse_filters(ExprPtr e) {
        for (;;) {
            if (is_op("|")) e = parse_filter_chain(std::move(e));
            else if (is_name("is")) {
                advance();
                auto t = expr(Expr::Kind::test);
                if (is_name("not")) {
                    t->negated = true;
                    advance();
                }
                t->name = expect_name();
                t->args.push_back(std::move(e));
                if (is_op("(")) parse_args(*t);
                else if ((cur().type == T::name || cur().type == T::string || cur().type == T::integer ||
                          cur().type == T::floating || is_op("[") || is_op("{")) &&
                         !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") && !is_name("is"))
                    t->args.push_back(parse_postfix(parse_primary()));
                e = std::move(t);
            } else if (is_op("(")) e = parse_call(std::move(e));
            else return e;
        }
    }

    // One "| name(args)" (the leading pipe optional for {% filter %}), then any that follow.
    ExprPtr parse_filter_chain(ExprPtr e) {
        do {
            if (is_op("|")) advance();
            auto f = expr(Expr::Kind::filter);
            f->name = expect_name();
            f->args.push_back(std::move(e));
            if (is_op("(")) parse_args(*f);
            e = std::move(f);
        } while (is_op("|"));
        return e;
    }

    const std::vector<Token>& t_;
    size_t i_ = 0;
    int depth_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_template(); }

}  // namespace jinja
