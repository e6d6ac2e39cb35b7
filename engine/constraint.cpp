#include "engine/constraint.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/error.h"
#include "grammar/json_schema.h"

namespace kiln {

VocabTrie::VocabTrie(const Tokenizer& tok) {
    nodes_.emplace_back();
    for (size_t id = 0; id < tok.n_vocab(); ++id) {
        const auto t = static_cast<Token>(id);
        if (tok.is_end(t)) {
            ends_.push_back(t);
            continue;
        }
        const std::string& text = tok.token_text(t);
        if (text.empty()) continue;  // control tokens
        uint32_t node = 0;
        for (char ch : text) {
            const auto b = static_cast<unsigned char>(ch);
            auto& kids = nodes_[node].children;
            auto it = std::lower_bound(kids.begin(), kids.end(), b, [](const auto& e, unsigned char x) { return e.first < x; });
            if (it == kids.end() || it->first != b) {
                const auto child = static_cast<uint32_t>(nodes_.size());
                it = kids.insert(it, {b, child});
                nodes_.emplace_back();  // (invalidates kids: not used after)
                node = child;
            } else node = it->second;
        }
        nodes_[node].tokens.push_back(t);
    }
}

std::shared_ptr<const Constraint> compile_grammar(std::string_view gbnf, std::shared_ptr<const VocabTrie> trie) {
    try {
        auto c = std::make_shared<Constraint>(Constraint{grammar::Grammar::parse(gbnf), std::move(trie)});
        grammar::Matcher probe(c->grammar);  // the start expands within the limits
        return c;
    } catch (const grammar::Error& e) {
        throw Error(e.what());
    }
}

std::shared_ptr<const Constraint> compile_json_schema(const nlohmann::ordered_json& schema, std::shared_ptr<const VocabTrie> trie) {
    std::string gbnf;
    try {
        gbnf = grammar::json_schema_to_gbnf(schema);
    } catch (const grammar::Error& e) {
        throw Error(e.what());
    }
    return compile_grammar(gbnf, std::move(trie));
}

ConstraintState::ConstraintState(std::shared_ptr<const Constraint> c) : c_(std::move(c)), matcher_(c_->grammar) {}

namespace {

std::string state_key(const std::vector<grammar::Stack>& stacks, const std::string& partial) {
    std::string key = partial;
    key += '\0';
    for (const grammar::Stack& s : stacks) {
        key.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(uint32_t));
        key.append(4, '\xff');
    }
    return key;
}

}  // namespace

void ConstraintState::walk(uint32_t node, const std::vector<grammar::Stack>& stacks, const std::string& partial,
                           std::vector<Token>& out) const {
    const VocabTrie::Node& n = c_->trie->nodes()[node];
    if (node != 0) out.insert(out.end(), n.tokens.begin(), n.tokens.end());
    for (const auto& [byte, child] : n.children) {
        std::string p = partial;
        p += static_cast<char>(byte);
        const size_t need = grammar::utf8_length(static_cast<unsigned char>(p[0]));
        if (p.size() < need) {
            if (matcher_.could_continue(stacks, p)) walk(child, stacks, p, out);
            continue;
        }
        const int64_t cp = grammar::decode_utf8(p);
        if (cp < 0) continue;
        const std::vector<grammar::Stack> next = matcher_.advance(stacks, static_cast<uint32_t>(cp));
        if (!next.empty()) walk(child, next, std::string(), out);
    }
}

const std::vector<Token>& ConstraintState::allowed() {
    if (current_ != nullptr) return *current_;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string key = state_key(matcher_.stacks(), matcher_.partial());
    auto it = cache_.find(key);
    if (it == cache_.end()) {
        std::vector<Token> out;
        if (!matcher_.done()) walk(0, matcher_.stacks(), matcher_.partial(), out);
        if (matcher_.can_end()) out.insert(out.end(), c_->trie->ends().begin(), c_->trie->ends().end());
        std::sort(out.begin(), out.end());
        if (cache_.size() > 4096) cache_.clear();  // a bound on memory for grammars with endless states
        it = cache_.emplace(key, std::move(out)).first;
    }
    current_ = &it->second;
    mask_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return *current_;
}

void ConstraintState::accept(Token token, const Tokenizer& tok) {
    current_ = nullptr;
    if (tok.is_end(token)) return;
    if (!matcher_.accept(tok.token_text(token))) throw grammar::Error("grammar: a token it does not allow was accepted");
}

}  // namespace kiln
