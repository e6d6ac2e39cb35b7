// GBNF grammars as llama.cpp defines them (rules, alternatives, groups, * + ? {m,n}, character
// classes with ranges and negation, literals with escapes, comments), compiled to a flat form a
// pushdown matcher walks over code points (grammar/matcher.h).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grammar {

// A grammar that does not parse or cannot be used: the message names the line and column, or
// the rule.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One symbol of an alternative, in a flat array where each alternative ends with `end`.
struct Symbol {
    enum class Kind : uint8_t { end, rule, chars } kind;
    bool negated = false;                              // chars: any code point but these
    uint32_t rule = 0;                                 // rule: its index
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // chars: inclusive code point ranges

    bool matches(uint32_t cp) const {
        bool in = false;
        for (const auto& [lo, hi] : ranges) in = in || (cp >= lo && cp <= hi);
        return in != negated;
    }
};

struct Grammar {
    std::vector<Symbol> symbols;                  // alternatives, each ended by an `end`
    std::vector<std::vector<uint32_t>> rules;     // per rule: where each alternative starts
    std::vector<std::string> names;               // per rule (generated ones: name_1, ...)
    uint32_t root = 0;

    // Parses GBNF text; the start rule is `root`. Throws Error.
    static Grammar parse(std::string_view text);
};

}  // namespace grammar
