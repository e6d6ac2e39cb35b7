// The SentencePiece tokenizer built from a GGUF vocabulary, against llama.cpp's test cases
// and against libsentencepiece running the original tokenizer.model.
#include <sentencepiece_processor.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/gguf_writer.h"
#include "engine/model.h"
#include "helpers.h"
#include "tokenizer/bpe.h"
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

TEST_CASE("llama.cpp's 47 Llama 3 BPE cases, vocabulary read from tokenizer.json", "[tokenizer][bpe]") {
    const std::string dir = model_path("tokenizers/llama3/");
    const auto cases = load_cases(dir + "ggml-vocab-llama-bpe.gguf");
    REQUIRE(cases.size() == 47);
    const auto tok = load_bpe_tokenizer_json(dir + "tokenizer.json");
    CHECK(tok->n_vocab() == 128256);
    CHECK(tok->bos() == 128000);
    for (const Case& c : cases) {
        INFO("input: '" << c.text << "'");
        CHECK(tok->encode(c.text, false) == c.ids);
        CHECK(decode(*tok, c.ids) == c.text);  // every input is valid UTF-8, so decoding gives it back
    }
    CHECK(tok->encode("Hello", true).front() == 128000);
    CHECK(decode(*tok, {128000, 9906}) == "Hello");  // control tokens decode to nothing
    // Bytes that are not UTF-8 still encode (one byte-level token each) and come back as bytes.
    const std::string raw = "a\xff\xfe b\xc3";
    const auto ids = tok->encode(raw, false);
    std::string bytes;
    for (Token id : ids) bytes += tok->token_text(id);
    CHECK(bytes == raw);
    // A long run of one character stays fast (merges by heap, not by rescanning).
    CHECK(decode(*tok, tok->encode(std::string(100000, ' ') + "x", false)) == std::string(100000, ' ') + "x");
}

TEST_CASE("special tokens in the text are parsed only when asked", "[tokenizer][bpe]") {
    const auto bpe = load_bpe_tokenizer_json(model_path("tokenizers/llama3/tokenizer.json"));
    const std::string chat = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    // Hugging Face's tokenizer gives these ids for the chat text (special tokens parsed).
    CHECK(bpe->encode(chat, true, true) == std::vector<Token>{128000, 128006, 882, 128007, 271, 13347, 128009});
    const auto plain = bpe->encode(chat, false);
    CHECK(plain.size() > 10);
    for (Token id : plain) CHECK(!bpe->is_special(id));
    CHECK(decode(*bpe, plain) == chat);
    // A spelling that is no control token stays text, and a special next to text splits it.
    CHECK(bpe->encode("<|not_a_token|>", false, true) == bpe->encode("<|not_a_token|>", false));
    CHECK(bpe->encode("a<|eot_id|><|eot_id|>b", false, true) == std::vector<Token>{64, 128009, 128009, 65});

    // SentencePiece: each fragment after a special token gets the space prefix, as in llama.cpp.
    const auto spm = gguf_tokenizer(model_path("tokenizers/llama2/ggml-vocab-llama-spm.gguf"));
    const auto ids = spm->encode("Hi</s>there", false, true);
    REQUIRE(ids.size() >= 3);
    CHECK(std::count(ids.begin(), ids.end(), spm->eos()) == 1);
    const auto eos_at = std::find(ids.begin(), ids.end(), spm->eos());
    CHECK(std::vector<Token>(ids.begin(), eos_at) == spm->encode("Hi", false));
    CHECK(std::vector<Token>(eos_at + 1, ids.end()) == spm->encode("there", false));
    const auto spm_plain = spm->encode("Hi</s>there", false);
    CHECK(std::count(spm_plain.begin(), spm_plain.end(), spm->eos()) == 0);
}

TEST_CASE("the Llama 3 cases with the vocabulary read from a GGUF (model gpt2, pre llama-bpe)", "[tokenizer][bpe]") {
    const std::string dir = model_path("tokenizers/llama3/");
    const BpeVocab v = read_tokenizer_json(dir + "tokenizer.json");
    GgufWriter w;
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", "llama-bpe");
    w.add_string_array("tokenizer.ggml.tokens", v.tokens);
    w.add_i32_array("tokenizer.ggml.token_type", v.types);
    w.add_string_array("tokenizer.ggml.merges", v.merges);
    w.add_u32("tokenizer.ggml.bos_token_id", 128000);
    w.add_u32("tokenizer.ggml.eos_token_id", 128001);
    w.add_u32("tokenizer.ggml.eot_token_id", 128009);
    const std::string path = temp_dir() + "/llama3-vocab.gguf";
    w.write(path);
    const auto tok = gguf_tokenizer(path);
    REQUIRE(tok->n_vocab() == 128256);
    CHECK(tok->bos() == 128000);
    CHECK(tok->eos() == 128001);
    CHECK(tok->is_end(128001));
    CHECK(tok->is_end(128009));  // <|eot_id|> ends a turn, so it ends generation too
    CHECK_FALSE(tok->is_end(128000));
    for (const Case& c : load_cases(dir + "ggml-vocab-llama-bpe.gguf")) {
        INFO("input: '" << c.text << "'");
        CHECK(tok->encode(c.text, false) == c.ids);
        CHECK(decode(*tok, c.ids) == c.text);
    }
}

TEST_CASE("the Llama 3 cases with the vocabulary of the generator's llama3-tiny GGUF", "[tokenizer][bpe]") {
    const auto tok = gguf_tokenizer(generated_model("llama3-tiny"));
    CHECK(tok->is_end(128009));
    for (const Case& c : load_cases(model_path("tokenizers/llama3/ggml-vocab-llama-bpe.gguf"))) {
        INFO("input: '" << c.text << "'");
        CHECK(tok->encode(c.text, false) == c.ids);
        CHECK(decode(*tok, c.ids) == c.text);
    }
}

TEST_CASE("a BPE vocabulary with an unknown pre-tokenizer is refused by name", "[tokenizer][bpe][bad-input]") {
    BpeVocab v;
    v.tokens = {"a", "b"};
    v.pre = "gpt-4o";
    CHECK_THROWS_WITH(make_bpe_tokenizer(v), Catch::Contains("tokenizer.ggml.pre 'gpt-4o' is not supported (kiln implements llama-bpe"));
    v.pre = "llama-bpe";
    v.bos = 7;
    CHECK_THROWS_WITH(make_bpe_tokenizer(v), Catch::Contains("outside the vocabulary"));
}

TEST_CASE("llama.cpp's cases for the DeepSeek LLM, DeepSeek Coder, GPT-2 and Phi-3 vocabularies", "[tokenizer][bpe]") {
    // Vocabulary-only GGUF files: pre-tokenizers deepseek-llm, deepseek-coder, gpt-2, and
    // Phi-3's SentencePiece vocabulary.
    for (const char* name : {"deepseek-llm", "deepseek-coder", "gpt-2", "phi-3"}) {
        const std::string base = model_path(std::string("tokenizers/more/ggml-vocab-") + name + ".gguf");
        const auto cases = load_cases(base);
        REQUIRE(cases.size() == 47);
        const auto tok = gguf_tokenizer(base);
        for (const Case& c : cases) {
            INFO(name << " input: '" << c.text << "'");
            CHECK(tok->encode(c.text, false) == c.ids);
        }
    }
}

TEST_CASE("the qwen2 split matches Python's regex module on llama.cpp's tokenizer inputs", "[tokenizer][bpe]") {
    if (std::system("/usr/bin/python3 -c 'import regex' >/dev/null 2>&1") != 0) {
        WARN("SKIPPED: /usr/bin/python3 has no regex; install python3-regex to run the check");
        return;
    }
    for (const char* inputs : {"llama3/ggml-vocab-llama-bpe.gguf.inp", "more/ggml-vocab-deepseek-llm.gguf.inp"}) {
        const std::string inp = model_path(std::string("tokenizers/") + inputs), out = temp_dir() + "/qwen2-split.json";
        const std::string cmd = "/usr/bin/python3 '" KILN_SOURCE_DIR "/scripts/reference_pretokenize.py' '" + inp + "' '" + out + "'";
        REQUIRE(std::system(cmd.c_str()) == 0);
        const auto expected = nlohmann::json::parse(read_file(out));
        const auto cases = load_cases(inp.substr(0, inp.size() - 4));
        REQUIRE(expected.size() == cases.size());
        for (size_t i = 0; i < cases.size(); ++i) {
            INFO("input: '" << cases[i].text << "'");
            CHECK(pre_tokenize("qwen2", cases[i].text) == expected[i].get<std::vector<std::string>>());
        }
    }
}

TEST_CASE("every pre-tokenizer cuts a text into pieces that put it back together", "[tokenizer][bpe]") {
    const std::string text = "Hello World! It's 2026-12-01, 3.14159\n\n  indented\tTab ÄÖÜ straße 東京タワー 한국어 <|x|> ";
    for (const char* pre : {"llama-bpe", "qwen2", "deepseek-r1-qwen", "gpt-2", "smollm", "deepseek-llm", "deepseek-coder", "tekken"}) {
        INFO(pre);
        const auto pieces = pre_tokenize(pre, text);
        std::string joined;
        for (const std::string& p : pieces) joined += p;
        CHECK(joined == text);
        CHECK(pieces.size() > 10);
    }
    // Digits: one a piece (qwen2, smollm, tekken), up to three (Llama 3), a run (GPT-2).
    CHECK(pre_tokenize("qwen2", "12345") == std::vector<std::string>{"1", "2", "3", "4", "5"});
    CHECK(pre_tokenize("llama-bpe", "12345") == std::vector<std::string>{"123", "45"});
    CHECK(pre_tokenize("gpt-2", "12345") == std::vector<std::string>{"12345"});
    CHECK(pre_tokenize("smollm", "12345") == std::vector<std::string>{"1", "2", "3", "4", "5"});
    // Tekken splits at a change from lower to upper case.
    CHECK(pre_tokenize("tekken", "camelCase") == std::vector<std::string>{"camel", "Case"});
}

TEST_CASE("kiln tokenize reads vocabulary-only files; commands that need weights say there are none", "[tokenizer][cli]") {
    const std::string base = model_path("tokenizers/llama2/ggml-vocab-llama-spm.gguf");
    const auto cases = load_cases(base);
    for (size_t i : {size_t{1}, size_t{5}, size_t{20}, size_t{46}}) {
        const std::string in = temp_dir() + "/vocab-case.txt";
        write_file(in, cases[i].text);
        const Result r = run_kiln({"tokenize", "-m", base, "-f", in, "--no-bos"});
        INFO("input: '" << cases[i].text << "': " << r.err);
        REQUIRE(r.status == 0);
        std::string want;
        for (Token id : cases[i].ids) {
            if (!want.empty()) want += ' ';
            want += std::to_string(id);
        }
        CHECK(r.out == want + "\n");
    }
    const Result run = run_kiln({"run", "-m", base, "-p", "Hello"});
    CHECK(run.status == 1);
    CHECK(run.err.find("vocabulary only, no weights") != std::string::npos);
}
