// Reads the tokenizer.ggml.* keys of a GGUF file into a tokenizer.
#include <string>

#include "engine/error.h"
#include "engine/model.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"

namespace kiln {

namespace {

Token token_id(const GgufFile& g, const char* key, Token fallback) {
    const auto v = g.get_uint(key);
    if (!v) return fallback;
    if (*v > INT32_MAX) throw Error(std::string(key) + " " + std::to_string(*v) + " is not a valid token id");
    return static_cast<Token>(*v);
}

std::vector<int32_t> token_types(const GgufFile& g, size_t n) {
    std::vector<int32_t> types;
    if (auto t = g.get_int_array("tokenizer.ggml.token_type")) {
        types.reserve(t->size());
        for (int64_t v : *t) types.push_back(v < 0 || v > 255 ? 0 : static_cast<int32_t>(v));
    } else {
        types.assign(n, 1);
    }
    return types;
}

// Byte-level BPE (tokenizer.ggml.model "gpt2"), as Llama 3 files carry it.
std::unique_ptr<Tokenizer> load_bpe(const GgufFile& g) {
    BpeVocab vocab;
    const auto tokens = g.get_string_array("tokenizer.ggml.tokens");
    if (!tokens) throw Error("tokenizer.ggml.tokens is missing");
    vocab.tokens.assign(tokens->begin(), tokens->end());
    const auto merges = g.get_string_array("tokenizer.ggml.merges");
    if (!merges) throw Error("tokenizer.ggml.merges is missing");
    vocab.merges.assign(merges->begin(), merges->end());
    vocab.types = token_types(g, vocab.tokens.size());
    const auto pre = g.get_string("tokenizer.ggml.pre");
    if (!pre) throw Error("tokenizer.ggml.pre is missing (kiln needs it to know how a byte-level BPE vocabulary splits text)");
    vocab.pre = *pre;
    vocab.bos = token_id(g, "tokenizer.ggml.bos_token_id", -1);
    vocab.eos = token_id(g, "tokenizer.ggml.eos_token_id", -1);
    for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
        if (const Token id = token_id(g, key, -1); id >= 0) vocab.ends.push_back(id);
    vocab.add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(vocab.bos >= 0);
    try {
        return make_bpe_tokenizer(std::move(vocab));
    } catch (const std::runtime_error& e) {
        throw Error(e.what());
    }
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& g) {
    const auto model = g.get_string("tokenizer.ggml.model");
    if (!model) throw Error("no tokenizer in the file (tokenizer.ggml.model is missing)");
    if (*model == "gpt2") return load_bpe(g);
    if (*model != "llama")
        throw Error("tokenizer.ggml.model '" + std::string(*model) + "' is not supported (kiln reads 'llama' and 'gpt2')");
    SpmVocab vocab;
    const auto tokens = g.get_string_array("tokenizer.ggml.tokens");
    if (!tokens) throw Error("tokenizer.ggml.tokens is missing");
    vocab.pieces.assign(tokens->begin(), tokens->end());
    const size_t n = vocab.pieces.size();
    if (auto scores = g.get_float_array("tokenizer.ggml.scores")) vocab.scores = std::move(*scores);
    else vocab.scores.assign(n, 0.0f);
    vocab.types = token_types(g, n);
    vocab.unk = token_id(g, "tokenizer.ggml.unknown_token_id", 0);
    vocab.bos = token_id(g, "tokenizer.ggml.bos_token_id", 1);
    vocab.eos = token_id(g, "tokenizer.ggml.eos_token_id", 2);
    vocab.add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
    vocab.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    try {
        return make_spm_tokenizer(vocab);
    } catch (const std::runtime_error& e) {
        throw Error(e.what());
    }
}

}  // namespace kiln
