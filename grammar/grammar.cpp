#include "grammar/grammar.h"

#include <cctype>
#include <functional>
#include <map>

namespace grammar {

namespace {

// Repetition counts above this are refused: {m,n} expands into copies of its element. And at
// most this many rules, generated ones included (the checks recurse over them).
constexpr uint64_t kMaxRepeat = 1000;
constexpr size_t kMaxRules = 10000;

using Seq = std::vector<Symbol>;

Symbol chars(uint32_t lo, uint32_t hi) {
    Symbol s{Symbol::Kind::chars};
    s.ranges.emplace_back(lo, hi);
    return s;
}
Symbol ref(uint32_t rule) {
    Symbol s{Symbol::Kind::rule};
    s.rule = rule;
    return s;
}

class Parser {
public:
    explicit Parser(std::string_view text) : t_(text) {}

    Grammar run() {
        skip(true);
        while (pos_ < t_.size()) {
            const size_t at = pos_;
            const std::string name = parse_name();
            const uint32_t id = rule_id(name);
            if (defined_[id]) fail_at(at, "rule '" + name + "' is defined twice");
            defined_[id] = true;
            skip(false);
            if (t_.compare(pos_, 3, "::=") != 0) fail("'::=' after the rule name");
            pos_ += 3;
            skip(true);
            alts_[id] = parse_alternatives(false);
            skip(false);
            if (pos_ < t_.size() && t_[pos_] != '\n') fail("the end of the line (or '|') after the rule");
            skip(true);
        }
        return finish();
    }

private:
    [[noreturn]] void fail_at(size_t at, const std::string& what) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < t_.size(); ++i) {
            if (t_[i] == '\n') ++line, col = 1;
            else ++col;
        }
        throw Error("grammar, line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what);
    }
    [[noreturn]] void fail(const std::string& expected) const {
        std::string found = pos_ >= t_.size() ? "the end" : t_[pos_] == '\n' ? "a line break" : "'" + std::string(1, t_[pos_]) + "'";
        fail_at(pos_, "expected " + expected + ", found " + found);
    }

    // Spaces, tabs and comments; line breaks too when newlines is set.
    void skip(bool newlines) {
        while (pos_ < t_.size()) {
            const char c = t_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) ++pos_;
            else if (c == '#')
                while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
            else break;
        }
    }

    static bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

    std::string parse_name() {
        const size_t start = pos_;
        while (pos_ < t_.size() && name_char(t_[pos_])) ++pos_;
        if (pos_ == start) fail("a rule name");
        return std::string(t_.substr(start, pos_ - start));
    }

    uint32_t rule_id(const std::string& name) {
        const auto it = ids_.find(name);
        if (it != ids_.end()) return it->second;
        return new_rule(name, false);
    }
    uint32_t new_rule(const std::string& name, bool defined) {
        if (names_.size() >= kMaxRules) fail_at(pos_, "more than " + std::to_string(kMaxRules) + " rules");
        const auto id = static_cast<uint32_t>(names_.size());
        ids_[name] = id;
        names_.push_back(name);
        alts_.emplace_back();
        defined_.push_back(defined);
        return id;
    }
    uint32_t generated(const std::string& base) { return new_rule(base + "_" + std::to_string(names_.size()), true); }

    std::vector<Seq> parse_alternatives(bool nested) {
        std::vector<Seq> alts;
        alts.push_back(parse_sequence(nested));
        while (pos_ < t_.size() && t_[pos_] == '|') {
            ++pos_;
            skip(true);
            alts.push_back(parse_sequence(nested));
        }
        return alts;
    }

    // A code point of a literal or class, with its escapes.
    uint32_t parse_char() {
        if (pos_ >= t_.size()) fail("a character");
        const auto c = static_cast<unsigned char>(t_[pos_]);
        if (c == '\\') {
            if (++pos_ >= t_.size()) fail("an escape");
            const char e = t_[pos_++];
            const auto hex = [&](int n) {
                uint32_t v = 0;
                for (int k = 0; k < n; ++k) {
                    if (pos_ >= t_.size() || !std::isxdigit(static_cast<unsigned char>(t_[pos_]))) fail(std::to_string(n) + " hex digits");
                    const char h = t_[pos_++];
                    v = v * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                return v;
            };
            switch (e) {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case 'x': return hex(2);
                case 'u': return hex(4);
                case 'U': {
                    const uint32_t cp = hex(8);
                    if (cp > 0x10FFFF) fail_at(pos_ - 10, "\\U escape beyond U+10FFFF");
                    return cp;
                }
                case '\\': case '"': case '[': case ']': case '-': case '^': case '/': return static_cast<uint32_t>(e);
                default: fail_at(pos_ - 2, std::string("unknown escape '\\") + e + "'");
            }
        }
        // UTF-8
        const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (n < 0 || pos_ + static_cast<size_t>(n) >= t_.size() + (n == 0)) fail_at(pos_, "invalid UTF-8");
        uint32_t cp = n == 0 ? c : c & (0x3Fu >> n);
        for (int k = 1; k <= n; ++k) {
            const auto b = static_cast<unsigned char>(t_[pos_ + static_cast<size_t>(k)]);
            if ((b & 0xC0) != 0x80) fail_at(pos_, "invalid UTF-8");
            cp = cp << 6 | (b & 0x3F);
        }
        pos_ += static_cast<size_t>(n) + 1;
        return cp;
    }

    uint64_t parse_int() {
        const size_t start = pos_;
        uint64_t v = 0;
        while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') {
            v = v * 10 + static_cast<uint64_t>(t_[pos_++] - '0');
            if (v > kMaxRepeat) fail_at(start, "repetition count above " + std::to_string(kMaxRepeat));
        }
        if (pos_ == start) fail("a number");
        return v;
    }

    // Applies a repetition to seq[from..]: the element just parsed.
    void repeat(Seq& seq, size_t from, uint64_t min, uint64_t max, bool unbounded) {
        const Seq elem(seq.begin() + static_cast<long>(from), seq.end());
        seq.resize(from);
        for (uint64_t i = 0; i < min; ++i) seq.insert(seq.end(), elem.begin(), elem.end());
        if (unbounded) {  // R ::= elem R | ()
            const uint32_t r = generated("rep");
            Seq again = elem;
            again.push_back(ref(r));
            alts_[r] = {again, Seq{}};
            seq.push_back(ref(r));
            return;
        }
        // max - min optional copies, nested: R1 ::= elem R2 | (), ..., Rk ::= elem | ()
        uint32_t next = 0;
        bool have_next = false;
        for (uint64_t i = min; i < max; ++i) {
            const uint32_t r = generated("opt");
            Seq body = elem;
            if (have_next) body.push_back(ref(next));
            alts_[r] = {body, Seq{}};
            next = r;
            have_next = true;
        }
        if (have_next) seq.push_back(ref(next));
    }

    Seq parse_sequence(bool nested) {
        Seq seq;
        size_t last = SIZE_MAX;  // where the last element starts
        for (;;) {
            skip(nested);
            if (pos_ >= t_.size()) break;
            const char c = t_[pos_];
            if (c == '"') {
                ++pos_;
                last = seq.size();
                while (pos_ < t_.size() && t_[pos_] != '"') {
                    if (t_[pos_] == '\n') fail("'\"' to close the literal");
                    const uint32_t cp = parse_char();
                    seq.push_back(chars(cp, cp));
                }
                if (pos_ >= t_.size()) fail("'\"' to close the literal");
                ++pos_;
                if (seq.size() == last) {  // "" matches the empty string: nothing to repeat
                    last = SIZE_MAX;
                }
            } else if (c == '[') {
                ++pos_;
                Symbol s{Symbol::Kind::chars};
                if (pos_ < t_.size() && t_[pos_] == '^') {
                    s.negated = true;
                    ++pos_;
                }
                while (pos_ < t_.size() && t_[pos_] != ']') {
                    if (t_[pos_] == '\n') fail("']' to close the character class");
                    const uint32_t lo = parse_char();
                    uint32_t hi = lo;
                    if (pos_ + 1 < t_.size() && t_[pos_] == '-' && t_[pos_ + 1] != ']') {
                        ++pos_;
                        hi = parse_char();
                        if (hi < lo) fail_at(pos_ - 1, "a range whose end is below its start");
                    }
                    s.ranges.emplace_back(lo, hi);
                }
                if (pos_ >= t_.size()) fail("']' to close the character class");
                ++pos_;
                last = seq.size();
                seq.push_back(std::move(s));
            } else if (c == '.') {
                ++pos_;
                last = seq.size();
                Symbol any{Symbol::Kind::chars};
                any.negated = true;  // no exclusions: every code point
                seq.push_back(std::move(any));
            } else if (c == '(') {
                ++pos_;
                skip(true);
                const uint32_t g = generated("group");
                alts_[g] = parse_alternatives(true);
                skip(true);
                if (pos_ >= t_.size() || t_[pos_] != ')') fail("')'");
                ++pos_;
                last = seq.size();
                seq.push_back(ref(g));
            } else if (name_char(c)) {
                last = seq.size();
                seq.push_back(ref(rule_id(parse_name())));
            } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                if (last == SIZE_MAX) fail("something to repeat before '" + std::string(1, c) + "'");
                ++pos_;
                if (c == '*') repeat(seq, last, 0, 0, true);
                else if (c == '+') repeat(seq, last, 1, 0, true);
                else if (c == '?') repeat(seq, last, 0, 1, false);
                else {
                    skip(false);
                    const uint64_t min = parse_int();
                    uint64_t max = min;
                    bool unbounded = false;
                    skip(false);
                    if (pos_ < t_.size() && t_[pos_] == ',') {
                        ++pos_;
                        skip(false);
                        if (pos_ < t_.size() && t_[pos_] == '}') unbounded = true;
                        else max = parse_int();
                    }
                    skip(false);
                    if (pos_ >= t_.size() || t_[pos_] != '}') fail("'}'");
                    ++pos_;
                    if (!unbounded && max < min) fail_at(pos_ - 1, "a repetition whose maximum is below its minimum");
                    repeat(seq, last, min, max, unbounded);
                }
                last = SIZE_MAX;
            } else break;  // '|', ')', a line break or something the caller judges
        }
        return seq;
    }

    Grammar finish() {
        for (uint32_t r = 0; r < names_.size(); ++r)
            if (!defined_[r]) throw Error("grammar: rule '" + names_[r] + "' is used but not defined");
        const auto root = ids_.find("root");
        if (root == ids_.end()) throw Error("grammar: no rule named 'root'");
        Grammar g;
        g.names = names_;
        g.root = root->second;
        g.rules.resize(names_.size());
        for (uint32_t r = 0; r < names_.size(); ++r)
            for (Seq& alt : alts_[r]) {
                g.rules[r].push_back(static_cast<uint32_t>(g.symbols.size()));
                for (Symbol& s : alt) g.symbols.push_back(std::move(s));
                g.symbols.push_back(Symbol{Symbol::Kind::end});
            }
        check(g);
        return g;
    }

    // Refuses a grammar that can match nothing, and left recursion (which no pushdown matcher
    // of this kind can expand).
    static void check(const Grammar& g) {
        const size_t n = g.rules.size();
        const auto alt_symbols = [&](uint32_t start) {
            std::vector<const Symbol*> out;
            for (uint32_t p = start; g.symbols[p].kind != Symbol::Kind::end; ++p) out.push_back(&g.symbols[p]);
            return out;
        };
        const auto class_empty = [](const Symbol& s) { return !s.negated && s.ranges.empty(); };
        // Productive: some alternative derives a finite string. Nullable: one derives "".
        std::vector<char> productive(n, 0), nullable(n, 0);
        for (bool changed = true; changed;) {
            changed = false;
            for (uint32_t r = 0; r < n; ++r)
                for (uint32_t start : g.rules[r]) {
                    bool prod = true, null = true;
                    for (const Symbol* s : alt_symbols(start)) {
                        if (s->kind == Symbol::Kind::chars) {
                            prod = prod && !class_empty(*s);
                            null = false;
                        } else {
                            prod = prod && productive[s->rule];
                            null = null && nullable[s->rule];
                        }
                    }
                    if (prod && !productive[r]) productive[r] = 1, changed = true;
                    if (null && !nullable[r]) nullable[r] = 1, changed = true;
                }
        }
        if (!productive[g.root]) throw Error("grammar: it matches nothing (rule 'root' never completes)");
        // Rules each rule can start with (through nullable prefixes); a cycle is left recursion.
        std::vector<std::vector<uint32_t>> left(n);
        for (uint32_t r = 0; r < n; ++r)
            for (uint32_t start : g.rules[r])
                for (const Symbol* s : alt_symbols(start)) {
                    if (s->kind != Symbol::Kind::rule) break;
                    left[r].push_back(s->rule);
                    if (!nullable[s->rule]) break;
                }
        std::vector<int> state(n, 0);  // 0 new, 1 on the path, 2 done
        std::function<void(uint32_t)> visit = [&](uint32_t r) {
            state[r] = 1;
            for (uint32_t next : left[r]) {
                if (state[next] == 1) throw Error("grammar: rule '" + g.names[next] + "' is left-recursive");
                if (state[next] == 0) visit(next);
            }
            state[r] = 2;
        };
        for (uint32_t r = 0; r < n; ++r)
            if (state[r] == 0) visit(r);
    }

    std::string_view t_;
    size_t pos_ = 0;
    std::map<std::string, uint32_t> ids_;
    std::vector<std::string> names_;
    std::vector<std::vector<Seq>> alts_;
    std::vector<bool> defined_;
};

}  // namespace

Grammar Grammar::parse(std::string_view text) { return Parser(text).run(); }

}  // namespace grammar
