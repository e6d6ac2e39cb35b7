// Byte-level BPE tokenizer (GPT-2 style: Llama 3, Qwen, DeepSeek, GPT-2, Mistral's Tekken): the
// pre-tokenizer's regular expressions (through PCRE2, with Unicode classes), GPT-2's
// byte-to-character map, merges by rank, and ignore_merges (a pre-token that is already a token
// is taken whole).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kiln {

// A byte-level BPE vocabulary as GGUF stores it (tokenizer.ggml.* with model "gpt2").
struct BpeVocab {
    std::vector<std::string> tokens;  // in the byte-level alphabet ("Ġthe")
    std::vector<int32_t> types;       // 1 normal, 3 control, 4 user-defined; empty: all normal
    std::vector<std::string> merges;  // "left right", best first
    std::string pre = "llama-bpe";    // the pre-tokenizer's name (tokenizer.ggml.pre)
    Token bos = -1, eos = -1;
    std::vector<Token> ends;  // tokens that end generation besides eos (end of turn, of message)
    bool add_bos = true;
    std::optional<bool> ignore_merges;  // unset: as the pre-tokenizer has it (llama.cpp's rule)
};

// Throws std::runtime_error naming the problem (an unknown pre-tokenizer, a bad token id).
std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeVocab vocab);

// The vocabulary of a Hugging Face tokenizer.json with a BPE model (added tokens included:
// special ones as control tokens). Throws std::runtime_error.
BpeVocab read_tokenizer_json(const std::string& path);

// The pieces the named pre-tokenizer cuts text into (for tests). Throws std::runtime_error.
std::vector<std::string> pre_tokenize(std::string_view pre, std::string_view text);

// make_bpe_tokenizer(read_tokenizer_json(path)).
std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::string& path);

}  // namespace kiln
