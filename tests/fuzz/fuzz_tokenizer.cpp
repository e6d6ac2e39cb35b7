// Arbitrary bytes through both tokenizers: SentencePiece built from a GGUF vocabulary
// ($KILN_FUZZ_VOCAB, default stories260K's) and the Llama 3 byte-level BPE from
// $KILN_FUZZ_BPE (default ../shared's tokenizer.json): encoded (with and without BOS, and with
// special tokens parsed), the ids decoded by the streaming decoder, and the raw bytes read as
// token ids decoded the same way.
// Byte-level BPE is lossless, so valid UTF-8 must come back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf.h"
#include "engine/model.h"
#include "tokenizer/bpe.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

namespace {

const kiln::Tokenizer& spm() {
    static const std::unique_ptr<kiln::Tokenizer> tok = [] {
        const char* path = std::getenv("KILN_FUZZ_VOCAB");
        const auto file = kiln::GgufFile::open(path != nullptr ? path : KILN_FUZZ_DEFAULT_VOCAB, kiln::FileLoad::map);
        return kiln::load_gguf_tokenizer(file);
    }();
    return *tok;
}

const kiln::Tokenizer& bpe() {
    static const std::unique_ptr<kiln::Tokenizer> tok = [] {
        const char* path = std::getenv("KILN_FUZZ_BPE");
        return kiln::load_bpe_tokenizer_json(path != nullptr ? path : KILN_FUZZ_DEFAULT_BPE);
    }();
    return *tok;
}

}  // namespace

// Decodes ids token by token, as generation streams them, and checks that it is the text
// decoded in one go.
std::string check_decoding(const kiln::Tokenizer& tok, const std::vector<kiln::Token>& ids) {
    kiln::StreamDecoder stream(tok, true);
    std::string text;
    for (kiln::Token t : ids) text += stream.push(t);
    text += stream.flush();
    if (text != kiln::decode(tok, ids)) __builtin_trap();
    return text;
}

void exercise(const kiln::Tokenizer& tok, std::string_view text, const uint8_t* data, size_t size, bool lossless) {
    const std::vector<kiln::Token> ids = tok.encode(text, size % 2 == 0);
    for (const auto& some : {ids, tok.encode(text, false, true)})
        for (kiln::Token t : some)
            if (t < 0 || static_cast<size_t>(t) >= tok.n_vocab()) __builtin_trap();  // ids always index the vocabulary
    const std::string back = check_decoding(tok, ids);
    if (lossless && kiln::utf8_valid(text) && back != text) __builtin_trap();
    std::vector<kiln::Token> raw(size / 4);
    for (size_t i = 0; i < raw.size(); ++i) {
        uint32_t v;
        std::memcpy(&v, data + 4 * i, 4);
        raw[i] = static_cast<kiln::Token>(v % tok.n_vocab());
    }
    check_decoding(tok, raw);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    exercise(spm(), text, data, size, false);
    exercise(bpe(), text, data, size, true);
    return 0;
}
