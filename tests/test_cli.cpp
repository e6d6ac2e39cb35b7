// kiln's commands end to end: the greedy reference text, info, tokenize, and misuse.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace kiln::test;

namespace {

std::string reference_text() {
    std::string ref = read_file(model_path("reference/stories260K_greedy_once_upon_a_time_n64.txt"));
    REQUIRE(!ref.empty());
    REQUIRE(ref.back() == '\n');
    ref.pop_back();  // the program that wrote the file added one newline
    return ref;
}

}  // namespace

TEST_CASE("kiln run reproduces llama2.c's greedy text on stories260K", "[cli][reference]") {
    const std::string prompt = "Once upon a time";
    const std::string ref = reference_text();
    // The file holds 60 generated tokens (llama2.c's 64 steps: 64 forward passes, the
    // first four of them over prompt tokens, each pass yielding one token).
    const Result r = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", prompt, "-n", "60", "--temp", "0"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(prompt + r.out == ref);
    // -n 59 stops one token earlier: the same text without the last token ("ily").
    const Result r59 = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", prompt, "-n", "59", "--temp", "0"});
    REQUIRE(r59.status == 0);
    CHECK(prompt + r59.out + "ily" == ref);
    // The summary goes to stderr, and --echo puts the prompt on stdout.
    CHECK(r.err.find("generated 60 tokens") != std::string::npos);
    const Result echo = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", prompt, "-n", "60", "--temp", "0", "--echo", "-q"});
    CHECK(echo.out == ref);
    CHECK(echo.err.empty());
}

TEST_CASE("kiln run reads the prompt from stdin and from a file", "[cli]") {
    const std::string path = temp_dir() + "/prompt.txt";
    write_file(path, "Once upon a time");
    const std::string m = model_path("stories260K.gguf");
    const Result a = run_kiln({"run", "-m", m, "-p", "-", "-n", "20", "-q", "--seed", "5"}, "Once upon a time");
    const Result b = run_kiln({"run", "-m", m, "-f", path, "-n", "20", "-q", "--seed", "5"});
    const Result c = run_kiln({"run", "-m", m, "-p", "Once upon a time", "-n", "20", "-q", "--seed", "5"});
    CHECK(a.status == 0);
    CHECK(a.out == b.out);
    CHECK(a.out == c.out);
    CHECK(a.out.size() > 20);
}

TEST_CASE("kiln tokenize and info", "[cli]") {
    const std::string m = model_path("stories260K.gguf");
    const Result ids = run_kiln({"tokenize", "-m", m, "-p", "Once upon a time"});
    CHECK(ids.out == "1 403 407 261 378\n");
    const Result pieces = run_kiln({"tokenize", "-m", m, "-p", "Once upon a time", "--pieces", "--no-bos"});
    CHECK(pieces.out == "403\t\xE2\x96\x81Once\n407\t\xE2\x96\x81upon\n261\t\xE2\x96\x81" "a\n378\t\xE2\x96\x81time\n");
    const Result info = run_kiln({"info", "-m", m, "-c", "512"});
    CHECK(info.status == 0);
    CHECK(info.out.find("llama.block_count") != std::string::npos);
    CHECK(info.out.find("blk.4.ffn_down.weight") != std::string::npos);
    CHECK(info.out.find("5 layers, dim 64, ffn 172, 8 heads (4 KV)") != std::string::npos);
    // 2 (K and V) x 5 layers x 512 positions x 32 floats x 4 bytes = 640 KiB
    CHECK(info.out.find("KV cache 320.00 KiB for a context of 512 (f16)") != std::string::npos);
}

TEST_CASE("the tokenizer.model option gives the same text", "[cli]") {
    const Result a = run_kiln({"tokenize", "-m", model_path("random/llama-2-tiny-random.gguf"), "-p", "Hello world"});
    const Result b = run_kiln({"tokenize", "-m", model_path("random/llama-2-tiny-random.gguf"), "--tokenizer",
                               model_path("tokenizers/llama2/tokenizer.model"), "-p", "Hello world"});
    CHECK(a.status == 0);
    CHECK(a.out == b.out);
    CHECK(a.out == "1 15043 3186\n");
}

TEST_CASE("misuse gets one line and a non-zero status", "[cli][bad-input]") {
    const std::string m = model_path("stories260K.gguf");
    struct Case {
        std::vector<std::string> args;
        int status;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {{"run", "-m", m, "-p", "x", "--bogus"}, 2, "--bogus"},
        {{"run", "-p", "x"}, 2, "--model"},
        {{"run", "-m", m, "-p", "x", "-n", "-5"}, 1, "-n/--n-predict"},
        {{"run", "-m", m, "-p", "x", "-t", "-1"}, 1, "-t/--threads"},
        {{"run", "-m", m, "-p", "x", "-c", "-3"}, 1, "-c/--ctx-size"},
        {{"run", "-m", m, "-p", "x", "-n", "abc"}, 2, "abc"},
        {{"run", "-m", m, "-p", std::string(3000, 'a') + " b", "-c", "64"}, 1, "more than a context of 64 tokens"},
        {{"run", "-m", m, "-p", "the cat the cat the cat the cat the cat the cat the cat the cat the cat the cat "
                                "the cat the cat the cat the cat the cat the cat the cat the cat the cat the cat",
          "-c", "32"}, 1, "leaves no room"},
        {{"run", "-m", m, "-f", "/nonexistent/prompt.txt"}, 1, "prompt file"},
        {{"run", "-m", m, "-p", "x", "--cache-type", "q4_0"}, 1, "--cache-type 'q4_0' is not one of f32, f16, q8_0"},
        {{"run", "-m", m, "-p", "x", "--cache-type", "q8_0"}, 1, "--cache-type q8_0 needs heads of a multiple of 32 elements; this model's have 8"},
        {{"frobnicate"}, 2, "frobnicate"},
    };
    for (const Case& c : cases) {
        const Result r = run_kiln(c.args);
        INFO(c.args[0] << " ... " << c.args.back() << ": " << r.err);
        CHECK(r.signal == 0);
        CHECK(r.status == c.status);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.find(c.expect) != std::string::npos);
    }
}

TEST_CASE("the rest of the bad-input matrix: clean failures, documented successes", "[cli][bad-input]") {
    const std::string m = model_path("stories260K.gguf");
    const std::string fifo = temp_dir() + "/fifo.gguf";
    mkfifo(fifo.c_str(), 0644);
    struct Case {
        std::vector<std::string> args;
        int status;
        std::string expect;  // in stderr for a failure
    };
    const std::vector<Case> cases = {
        {{"run", "-m", temp_dir(), "-p", "x"}, 1, "is a directory"},
        {{"run", "-m", fifo, "-p", "x"}, 1, "not a regular file"},
        {{"run", "-m", "/proc/self/mem", "-p", "x"}, 1, "file is empty"},
        {{"run", "-m", m, "-p", ""}, 1, "the prompt is empty"},
        {{"run", "-m", m, "-p", "x", "-c", "99999999999999"}, 1, "-c/--ctx-size must be at most"},
        {{"batch", "-m", m, "-i", "/nonexistent/in.jsonl", "-o", "-"}, 1, "cannot read"},
        {{"batch", "-m", m, "-i", "-", "-o", "-", "--parallel", "200", "-c", "10000000"}, 1, "of memory is available"},
        {{"batch", "-m", m, "-i", "-", "-o", "-", "--shard", "3"}, 1, "--shard"},
        // Documented: 0 threads = the physical cores, context 0 = the model's, -n -1 = until
        // end of text or a full context.
        {{"run", "-m", m, "-p", "Once", "-t", "0", "-n", "4"}, 0, ""},
        {{"run", "-m", m, "-p", "Once", "-c", "0", "-n", "4"}, 0, ""},
        {{"run", "-m", m, "-p", "Once", "-c", "64", "-n", "-1", "--ignore-eos"}, 0, ""},
        // Invalid UTF-8 in a prompt: byte tokens, no crash.
        {{"run", "-m", m, "-p", "Once \xff\xfe upon", "-n", "4"}, 0, ""},
    };
    std::string lines;  // standard input for the batch cases: 200 requests
    for (int i = 0; i < 200; ++i) lines += "{\"prompt\": \"Once\", \"n_predict\": 2}\n";
    for (const Case& c : cases) {
        const Result r = run_kiln(c.args, lines);
        INFO(c.args[0] << " " << c.args[2] << " ... " << c.args.back() << ": " << r.err);
        CHECK(r.signal == 0);
        CHECK(r.status == c.status);
        if (c.status != 0) {
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            CHECK(r.err.find(c.expect) != std::string::npos);
        }
    }
    // -n -1 with a context of 64 stops when the context is full: 2 prompt tokens and 62
    // generated ones fill it, and the 63rd is sampled from the last position's logits.
    const Result full = run_kiln({"run", "-m", m, "-p", "Once", "-c", "64", "-n", "-1", "--ignore-eos", "--json"});
    CHECK(full.out.find("\"completion_tokens\":63") != std::string::npos);
    CHECK(full.out.find("\"finish_reason\":\"length\"") != std::string::npos);
}

TEST_CASE("perplexity matches llama-perplexity on stories260K", "[cli][reference]") {
    // llama-perplexity gives 102.6221 for this model, text and context.
    const Result r = run_kiln({"perplexity", "-m", model_path("stories260K.gguf"), "-f",
                               shared_dir() + "/text/gpl-3.txt", "-c", "256"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const size_t at = r.out.find("PPL = ");
    REQUIRE(at != std::string::npos);
    const double ppl = std::stod(r.out.substr(at + 6));
    CHECK(std::abs(ppl - 102.62) <= 0.05);
    CHECK(r.out.find("[86]") != std::string::npos);  // 22155 tokens make 86 chunks
}

TEST_CASE("a mapped and a copied model give the same text", "[cli]") {
    const std::string m = model_path("stories260K.gguf");
    const Result mapped = run_kiln({"run", "-m", m, "-p", "Once upon a time", "-n", "30", "--temp", "0", "-q", "--mmap"});
    CHECK(mapped.status == 0);
    const Result copied = run_kiln({"run", "-m", m, "-p", "Once upon a time", "-n", "30", "--temp", "0", "-q", "--no-mmap"});
    CHECK(copied.status == 0);
    CHECK(copied.out == mapped.out);
    const Result bad = run_kiln({"info", "-m", temp_dir(), "--no-mmap"});
    CHECK(bad.status == 1);
    CHECK(bad.err.find("is a directory") != std::string::npos);
    const Result both = run_kiln({"info", "-m", m, "--mmap", "--no-mmap"});
    CHECK(both.status == 2);
    CHECK(both.err.find("excludes") != std::string::npos);
}
