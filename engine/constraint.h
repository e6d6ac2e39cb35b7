// Constrained decoding: the tokens a grammar allows next, found by walking a trie of the
// vocabulary's texts against the grammar's parse (grammar/matcher.h), with what each parse
// state allows cached, so that a state met again costs a lookup.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

// The vocabulary's token texts as a byte trie (control tokens, which have no text, left out).
class VocabTrie {
public:
    explicit VocabTrie(const Tokenizer& tok);

    struct Node {
        std::vector<std::pair<unsigned char, uint32_t>> children;  // by byte, ascending
        std::vector<Token> tokens;                                  // those whose text ends here
    };
    const std::vector<Node>& nodes() const { return nodes_; }
    const std::vector<Token>& ends() const { return ends_; }  // end-of-text tokens

private:
    std::vector<Node> nodes_;
    std::vector<Token> ends_;
};

// A grammar with the vocabulary it constrains: immutable, shared by every request that uses it.
struct Constraint {
    grammar::Grammar grammar;
    std::shared_ptr<const VocabTrie> trie;
};

// A GBNF grammar over a vocabulary. Throws Error with the grammar's message (line and column).
std::shared_ptr<const Constraint> compile_grammar(std::string_view gbnf, std::shared_ptr<const VocabTrie> trie);

// A JSON Schema as a grammar of the JSON texts it accepts (grammar/json_schema.h). Throws Error
// naming a keyword kiln cannot enforce and its path in the schema.
std::shared_ptr<const Constraint> compile_json_schema(const nlohmann::ordered_json& schema, std::shared_ptr<const VocabTrie> trie);

// One request's place in its grammar.
class ConstraintState {
public:
    explicit ConstraintState(std::shared_ptr<const Constraint> c);

    // The tokens allowed next, ascending: those whose text the grammar takes, and the end
    // tokens when the grammar may end here (only them once it allows nothing more).
    const std::vector<Token>& allowed();
    // Advances by a token from allowed(); end tokens leave the state as it is.
    void accept(Token token, const Tokenizer& tok);

    double mask_seconds() const { return mask_seconds_; }

private:
    void walk(uint32_t node, const std::vector<grammar::Stack>& stacks, const std::string& partial, std::vector<Token>& out) const;

    std::shared_ptr<const Constraint> c_;
    grammar::Matcher matcher_;
    std::unordered_map<std::string, std::vector<Token>> cache_;  // by parse state
    const std::vector<Token>* current_ = nullptr;
    double mask_seconds_ = 0.0;
};

}  // namespace kiln
