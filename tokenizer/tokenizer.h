// The interface every tokenizer (SentencePiece for Llama 1/2, byte-level BPE for Llama 3)
// offers the engine: text to ids, and ids back to the bytes they stand for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

using Token = int32_t;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Text to ids. With parse_special, the spellings of control tokens in the text
    // ("<|eot_id|>", "</s>") become those tokens, as llama.cpp's parse_special does; without
    // it, they are text like any other.
    std::vector<Token> encode(std::string_view text, bool add_bos, bool parse_special = false) const;

    // The bytes a token contributes to decoded text (empty for control tokens). A byte
    // token gives its single raw byte, which may be part of a multi-byte character.
    virtual const std::string& token_text(Token id) const = 0;
    // The vocabulary's own spelling of a token (e.g. "▁the", "<0x0A>", "<s>").
    virtual const std::string& token_piece(Token id) const = 0;
    virtual bool is_byte(Token id) const = 0;

    // True when encoding puts a space before the text, so that decoding from the start of
    // a text drops the first token's leading space (SentencePiece's add_dummy_prefix).
    virtual bool adds_space_prefix() const = 0;

    virtual size_t n_vocab() const = 0;
    virtual Token bos() const = 0;
    virtual Token eos() const = 0;
    // Whether generation ends at this token: EOS, and for Llama 3 also end-of-turn and the like.
    virtual bool is_end(Token id) const { return id == eos(); }
    virtual bool add_bos() const = 0;  // whether prompts start with BOS by default
    // Control and unknown tokens: those parse_special finds in a text by their spelling.
    virtual bool is_special(Token id) const = 0;

protected:
    // Ids of a text fragment (no BOS); a fragment begins the text or follows a special token.
    virtual void encode_fragment(std::string_view text, std::vector<Token>& out) const = 0;
};

}  // namespace kiln
