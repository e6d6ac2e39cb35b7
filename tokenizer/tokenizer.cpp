#include "tokenizer/tokenizer.h"

#include <algorithm>

namespace kiln {

std::vector<Token> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<Token> out;
    if (add_bos && bos() >= 0) out.push_back(bos());
    if (!parse_special) {
        encode_fragment(text, out);
        return out;
    }
    // As llama.cpp: the special tokens, longest spelling first, each split out of the text
    // fragments that are left, left to right.
    std::vector<Token> specials;
    for (size_t id = 0; id < n_vocab(); ++id)
        if (is_special(static_cast<Token>(id)) && !token_piece(static_cast<Token>(id)).empty())
            specials.push_back(static_cast<Token>(id));
    std::stable_sort(specials.begin(), specials.end(),
                     [&](Token a, Token b) { return token_piece(a).size() > token_piece(b).size(); });
    struct Fragment {
        std::string_view text;  // empty for a token
        Token token;
    };
    std::vector<Fragment> parts = {{text, -1}}, next;
    for (Token id : specials) {
        const std::string& piece = token_piece(id);
        next.clear();
        for (const Fragment& f : parts) {
            std::string_view rest = f.text;
            for (size_t at; f.token < 0 && (at = rest.find(piece)) != std::string_view::npos;) {
                if (at > 0) next.push_back({rest.substr(0, at), -1});
                next.push_back({{}, id});
                rest.remove_prefix(at + piece.size());
            }
            if (f.token >= 0) next.push_back(f);
            else if (!rest.empty()) next.push_back({rest, -1});
        }
        parts.swap(next);
    }
    for (const Fragment& f : parts) {
        if (f.token >= 0) out.push_back(f.token);
        else encode_fragment(f.text, out);
    }
    return out;
}

}  // namespace kiln
