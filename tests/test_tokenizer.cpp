// The SentencePiece tokenizer built from a GGUF vocabulary, against llama.cpp's test cases
// and against libsentencepiece running the original tokenizer.model.
#include <sentencepiece_processor.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "engine/model.h"
#include "helpers.h"
#include "tokenizer/spm.h"
#include "tokenizer/stream_decoder.h"

using namespace kiln;
using namespace kiln::test;

namespace {

struct Case {
    std::string text;
    std::vector<Token> ids;
};

// llama.cpp's format: inputs separated by "\n__ggml_vocab_test__\n", one line of ids per input.
std::vector<Case> load_cases(const std::string& base) {
    const std::string inp = read_file(base + ".inp"), out = read_file(base + ".out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<Case> cases;
    for (size_t start = 0;;) {
        const size_t end = inp.find(sep, start);
        cases.push_back({inp.substr(start, end - start), {}});
        if (end == std::string::npos) break;
        start = end + sep.size();
    }
    std::istringstream lines(out);
    std::string line;
    for (Case& c : cases) {
        if (!std::getline(lines, line)) line.clear();
        std::istringstream ids(line);
        for (Token id; ids >> id;) c.ids.push_back(id);
    }
    return cases;
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const std::string& path) { return load_gguf_tokenizer(GgufFile::open(path)); }

}  // namespace

TEST_CASE("llama.cpp's 47 SentencePiece cases, vocabulary read from GGUF", "[tokenizer]") {
    const std::string dir = model_path("tokenizers/llama2/");
    const auto cases = load_cases(dir + "ggml-vocab-llama-spm.gguf");
    REQUIRE(cases.size() == 47);
    const auto tok = gguf_tokenizer(dir + "ggml-vocab-llama-spm.gguf");
    const auto from_model = load_spm_tokenizer(dir + "tokenizer.model", true);
    sentencepiece::SentencePieceProcessor sp;
    REQUIRE(sp.Load(dir + "tokenizer.model").ok());
    for (const Case& c : cases) {
        INFO("input: '" << c.text << "'");
        CHECK(tok->encode(c.text, false) == c.ids);
        CHECK(from_model->encode(c.text, false) == c.ids);
        std::string expected;
        REQUIRE(sp.Decode(std::vector<int>(c.ids.begin(), c.ids.end()), &expected).ok());
        CHECK(decode(*tok, c.ids) == expected);
        CHECK(decode(*from_model, c.ids) == expected);
    }
}

TEST_CASE("BOS is added as the GGUF says", "[tokenizer]") {
    const auto tok = gguf_tokenizer(model_path("stories260K.gguf"));
    CHECK(tok->add_bos());
    CHECK(tok->encode("Once upon a time", true) == std::vector<Token>{1, 403, 407, 261, 378});
    CHECK(tok->encode("", false).empty());
}

TEST_CASE("streaming holds back an unfinished UTF-8 character", "[tokenizer]") {
    const auto tok = gguf_tokenizer(model_path("tokenizers/llama2/ggml-vocab-llama-spm.gguf"));
    // "é" is not a single piece in every vocabulary; its bytes 0xC3 0xA9 are byte tokens
    // <0xC3> = 3 + 0xC3 and <0xA9> = 3 + 0xA9.
    StreamDecoder d(*tok, false);
    CHECK(d.push(3 + 0xC3).empty());
    CHECK(d.push(3 + 0xA9) == "\xC3\xA9");
    CHECK(d.push(3 + 0xE2).empty());
    CHECK(d.flush() == "\xEF\xBF\xBD");  // an unfinished character at the end becomes U+FFFD
    StreamDecoder start(*tok, true);
    const auto ids = tok->encode("Hello", false);
    std::string text;
    for (Token id : ids) text += start.push(id);
    CHECK(text == "Hello");  // the dummy-prefix space is dropped at the start of a text
}
