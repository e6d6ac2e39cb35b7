// Arbitrary bytes through the SentencePiece tokenizer built from a GGUF vocabulary
// ($KILN_FUZZ_VOCAB, default stories260K's): encode, decode, decode of the raw bytes read as
// token ids, and the streaming decoder.
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
#include "tokenizer/stream_decoder.h"

namespace {

const kiln::Tokenizer& tokenizer() {
    static const std::unique_ptr<kiln::Tokenizer> tok = [] {
        const char* path = std::getenv("KILN_FUZZ_VOCAB");
        const auto file = kiln::GgufFile::open(path != nullptr ? path : KILN_FUZZ_DEFAULT_VOCAB, kiln::FileLoad::map);
        return kiln::load_gguf_tokenizer(file);
    }();
    return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const kiln::Tokenizer& tok = tokenizer();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::vector<kiln::Token> ids = tok.encode(text, size % 2 == 0);
    const std::string back = tok.decode(ids);
    if (!ids.empty() && back.empty() && !text.empty() && text.find_first_not_of(' ') != std::string_view::npos &&
        text.find('\0') == std::string_view::npos)
        __builtin_trap();  // printable text must not vanish
    std::vector<kiln::Token> raw(size / 4);
    for (size_t i = 0; i < raw.size(); ++i) {
        uint32_t v;
        std::memcpy(&v, data + 4 * i, 4);
        raw[i] = static_cast<kiln::Token>(v % tok.n_vocab());
    }
    tok.decode(raw);
    kiln::StreamDecoder stream(tok, true);
    for (kiln::Token t : raw) stream.push(t);
    stream.flush();
    return 0;
}
