// SentencePiece tokenizer (Llama 1/2), backed by libsentencepiece.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kiln {

// A SentencePiece vocabulary as GGUF stores it (tokenizer.ggml.* with model "llama").
struct SpmVocab {
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    Token unk = 0, bos = 1, eos = 2;
    bool add_space_prefix = true;
    bool add_bos = true;
};

// Builds a SentencePiece BPE model with byte fallback from the vocabulary. Throws
// std::runtime_error naming the problem (the engine reports it as its Error).
std::unique_ptr<Tokenizer> make_spm_tokenizer(const SpmVocab& vocab);

// Loads a tokenizer.model file. Throws std::runtime_error.
std::unique_ptr<Tokenizer> load_spm_tokenizer(const std::string& path, bool add_bos);

}  // namespace kiln
