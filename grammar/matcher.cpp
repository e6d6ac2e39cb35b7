#include "grammar/matcher.h"

#include <algorithm>

namespace grammar {

namespace {

// A grammar whose parse branches past these is refused rather than slowing every token.
constexpr size_t kMaxStacks = 4096;
constexpr int kMaxDepth = 4096;
// The smallest code point a valid UTF-8 sequence of each length encodes (shorter is overlong).
constexpr uint32_t kMinOfLength[] = {0, 0, 0x80, 0x800, 0x10000};

}  // namespace

size_t utf8_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead >> 5) == 6) return 2;
    if ((lead >> 4) == 14) return 3;
    if ((lead >> 3) == 30) return 4;
    return 1;
}

int64_t decode_utf8(std::string_view seq) {
    const auto lead = static_cast<unsigned char>(seq[0]);
    const size_t n = utf8_length(lead);
    if (seq.size() != n || (n == 1 && lead >= 0x80)) return -1;
    if (n == 1) return lead;
    uint32_t cp = lead & (0x7Fu >> n);
    for (size_t i = 1; i < n; ++i) {
        const auto b = static_cast<unsigned char>(seq[i]);
        if ((b & 0xC0) != 0x80) return -1;
        cp = cp << 6 | (b & 0x3F);
    }
    if (cp < kMinOfLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    return cp;
}

Matcher::Matcher(const Grammar& g) : g_(&g) {
    for (uint32_t start : g.rules[g.root]) expand(Stack{start}, stacks_, 0);
    dedupe(stacks_);
}

// Pushes the stacks whose top is a character class (or that are empty) reachable from s
// without consuming anything: rules at the top replaced by their alternatives, ends popped.
void Matcher::expand(Stack s, std::vector<Stack>& out, int depth) const {
    if (depth > kMaxDepth || s.size() > static_cast<size_t>(kMaxDepth)) throw Error("grammar: the parse nests too deep");
    while (!s.empty() && g_->symbols[s.back()].kind == Symbol::Kind::end) s.pop_back();
    if (s.empty() || g_->symbols[s.back()].kind == Symbol::Kind::chars) {
        if (out.size() >= kMaxStacks) throw Error("grammar: too ambiguous (more than 4096 parses at once)");
        out.push_back(std::move(s));
        return;
    }
    const uint32_t rule = g_->symbols[s.back()].rule;
    s.back() += 1;  // where to continue after the rule
    // A rule last in its alternative leaves nothing to continue with: dropped now, so that right
    // recursion (x ::= "a" x) keeps the stack the same size and its states repeat.
    while (!s.empty() && g_->symbols[s.back()].kind == Symbol::Kind::end) s.pop_back();
    for (uint32_t start : g_->rules[rule]) {
        Stack next = s;
        next.push_back(start);
        expand(std::move(next), out, depth + 1);
    }
}

void Matcher::dedupe(std::vector<Stack>& stacks) {
    std::sort(stacks.begin(), stacks.end());
    stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
}

std::vector<Stack> Matcher::advance(const std::vector<Stack>& stacks, uint32_t cp) const {
    std::vector<Stack> out;
    for (const Stack& s : stacks) {
        if (s.empty() || !g_->symbols[s.back()].matches(cp)) continue;
        Stack next = s;
        next.back() += 1;
        expand(std::move(next), out, 0);
    }
    dedupe(out);
    return out;
}

bool Matcher::could_continue(const std::vector<Stack>& stacks, std::string_view partial) const {
    // The code points a sequence with this prefix can be: the rest all 0x80 up to all 0xBF,
    // within what a valid sequence of its length encodes.
    const auto lead = static_cast<unsigned char>(partial[0]);
    const size_t n = utf8_length(lead);
    if (n == 1) return false;
    uint32_t lo = lead & (0x7Fu >> n), hi = lo;
    for (size_t i = 1; i < n; ++i) {
        if (i < partial.size() && (static_cast<unsigned char>(partial[i]) & 0xC0) != 0x80) return false;
        const uint32_t b = i < partial.size() ? static_cast<unsigned char>(partial[i]) & 0x3Fu : 0;
        lo = lo << 6 | b;
        hi = hi << 6 | (i < partial.size() ? b : 0x3F);
    }
    lo = std::max(lo, kMinOfLength[n]);
    hi = std::min<uint32_t>(hi, 0x10FFFF);
    if (lo > hi) return false;
    for (const Stack& s : stacks) {
        if (s.empty()) continue;
        const Symbol& sym = g_->symbols[s.back()];
        if (!sym.negated) {
            for (const auto& [a, b] : sym.ranges)
                if (a <= hi && b >= lo) return true;
            continue;
        }
        // Negated: some code point of [lo, hi] outside every range.
        uint32_t cur = lo;
        bool advanced = true;
        while (advanced && cur <= hi) {
            advanced = false;
            for (const auto& [a, b] : sym.ranges)
                if (a <= cur && b >= cur) {
                    cur = b + 1;
                    advanced = true;
                }
        }
        if (cur <= hi) return true;
    }
    return false;
}

bool Matcher::accept(std::string_view bytes) {
    std::vector<Stack> stacks = stacks_;
    std::string partial = partial_;
    for (char c : bytes) {
        partial += c;
        const size_t need = utf8_length(static_cast<unsigned char>(partial[0]));
        if (partial.size() < need) {
            if (!could_continue(stacks, partial)) return false;
            continue;
        }
        const int64_t cp = decode_utf8(partial);
        partial.clear();
        if (cp < 0) return false;
        stacks = advance(stacks, static_cast<uint32_t>(cp));
        if (stacks.empty()) return false;
    }
    stacks_ = std::move(stacks);
    partial_ = std::move(partial);
    return true;
}

bool Matcher::can_end() const {
    return partial_.empty() && std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

bool Matcher::done() const {
    return partial_.empty() && std::all_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

}  // namespace grammar
