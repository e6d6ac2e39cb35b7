// Where a grammar's parse can be after some text: a set of stacks of positions in its symbols
// (the top, back(), is the symbol to match next; an empty stack has matched the root in full).
// Advancing by a code point keeps the stacks whose top class takes it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace grammar {

using Stack = std::vector<uint32_t>;

class Matcher {
public:
    // At the start of the root rule; g must outlive the matcher. Throws Error when the
    // grammar's stacks grow past the limits.
    explicit Matcher(const Grammar& g);

    // Advances by text (UTF-8, a character may be split across calls). Returns false, leaving the
    // state unchanged, when no parse takes it.
    bool accept(std::string_view bytes);
    // Whether the root may end here / nothing but the end is left.
    bool can_end() const;
    bool done() const;

    const Grammar& grammar() const { return *g_; }
    const std::vector<Stack>& stacks() const { return stacks_; }
    const std::string& partial() const { return partial_; }

    // The stacks after code point cp (empty: none takes it).
    std::vector<Stack> advance(const std::vector<Stack>& stacks, uint32_t cp) const;
    // Whether some stack's top class takes a code point beginning with these bytes of an
    // unfinished UTF-8 sequence.
    bool could_continue(const std::vector<Stack>& stacks, std::string_view partial) const;

private:
    void expand(Stack s, std::vector<Stack>& out, int depth) const;
    static void dedupe(std::vector<Stack>& stacks);

    const Grammar* g_;
    std::vector<Stack> stacks_;
    std::string partial_;  // bytes of a code point not complete yet
};

// The number of bytes a UTF-8 sequence starting with this byte has (1 for a stray byte).
size_t utf8_length(unsigned char lead);
// The code point of a whole UTF-8 sequence, or -1 when it is not valid UTF-8 (a stray or
// overlong byte, a surrogate, past U+10FFFF): such text never matches a grammar.
int64_t decode_utf8(std::string_view seq);

}  // namespace grammar
