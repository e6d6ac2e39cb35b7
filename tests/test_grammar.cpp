// Constrained decoding: GBNF parsing and its errors, the matcher, and generation under grammars
// and JSON schemas on three vocabularies (stories260K's 512 tokens, the Llama 2 vocabulary of a
// random TinyLlama-shaped model, Llama 3's 128,256), every output checked after the fact: GBNF
// outputs by matching the text against the grammar, JSON outputs by python3-jsonschema.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "helpers.h"

using namespace kiln::test;

namespace {

std::string grammar_error(const std::string& text) {
    try {
        grammar::Grammar::parse(text);
    } catch (const grammar::Error& e) {
        return e.what();
    }
    return "";
}

// Whether the whole text is a sentence of the grammar (the matcher over the string, not the
// token masks generation used).
bool matches(const std::string& gbnf, const std::string& text) {
    const grammar::Grammar g = grammar::Grammar::parse(gbnf);
    grammar::Matcher m(g);
    return m.accept(text) && m.can_end();
}

std::vector<std::string> models() {
    return {model_path("stories260K.gguf"), generated_model("tiny"), generated_model("llama3-tiny")};
}

const std::vector<std::string> kGrammars = {
    R"(root ::= "yes" | "no")",
    R"(root ::= "The answer is " [0-9]{1,3} ".")",
    "root ::= item (\", \" item){0,3} \"!\"\nitem ::= [a-z]{1,6}",
    "# a list of names\nroot ::= \"[\" (name (\",\" name){0,4})? \"]\"\nname ::= \"\\\"\" [A-Z] [a-z]{0,8} \"\\\"\"",
    R"(root ::= ([^\n.]{1,20} "." ){1,2})",
    R"(root ::= "é" ("ü" | "日本" | [α-ω]) "\u00e9")",
};

// A JSON schema with nested objects and strings, and others exercising each supported keyword.
const std::vector<std::string> kSchemas = {
    R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "address": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                    "required": ["city", "zip"]}}, "required": ["name", "age", "address"]})",
    R"({"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 4})",
    R"({"anyOf": [{"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0, "maximum": 10}}, "required": ["kind", "r"]},
                  {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "integer", "exclusiveMinimum": -5, "maximum": -1}}, "required": ["kind", "side"]}]})",
    R"({"$defs": {"id": {"type": "string", "format": "uuid"}}, "type": "object", "properties": {"id": {"$ref": "#/$defs/id"},
        "when": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "time"},
        "ok": {"type": "boolean"}, "none": {"type": "null"}}, "required": ["id", "when", "day", "at", "ok", "none"], "additionalProperties": false})",
    R"({"type": "object", "properties": {"a": {"type": "integer", "minimum": 95, "maximum": 1234}, "b": {"type": ["string", "null"], "maxLength": 5},
        "c": {"type": "array", "prefixItems": [{"type": "integer", "maximum": 9}, {"type": "boolean"}], "items": false}}, "required": ["a"]})",
    R"({"allOf": [{"type": "object", "properties": {"x": {"type": "integer", "minimum": -20, "maximum": 20}}, "required": ["x"]},
                  {"properties": {"y": {"type": "string", "minLength": 2, "maxLength": 4}}, "required": ["y"]}]})",
};

nlohmann::json run_json(const std::vector<std::string>& args) {
    const Result r = run_kiln(args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return nlohmann::json::parse(r.out);
}

}  // namespace

TEST_CASE("GBNF that does not parse or cannot match is refused, naming where and what", "[grammar]") {
    CHECK(grammar_error(R"(root ::= "a)") == "grammar, line 1, column 12: expected '\"' to close the literal, found the end");
    CHECK(grammar_error("root ::= (\"a\" | \"b\"\n") == "grammar, line 2, column 1: expected ')', found the end");
    CHECK(grammar_error("root ::= x") == "grammar: rule 'x' is used but not defined");
    CHECK(grammar_error("start ::= \"a\"") == "grammar: no rule named 'root'");
    CHECK(grammar_error("root ::= root \"a\"") == "grammar: it matches nothing (rule 'root' never completes)");
    CHECK(grammar_error("root ::= root \"a\" | \"b\"") == "grammar: rule 'root' is left-recursive");
    CHECK(grammar_error("root ::= \"a\"{3,1}").find("maximum is below its minimum") != std::string::npos);
    CHECK(grammar_error("root ::= *").find("something to repeat") != std::string::npos);
    CHECK(grammar_error("root ::= [z-a]").find("end is below its start") != std::string::npos);
    CHECK(grammar_error("root ::= \"\\q\"").find("unknown escape") != std::string::npos);
    CHECK(grammar_error("root ::= \"a\"\nroot ::= \"b\"").find("defined twice") != std::string::npos);
    CHECK(grammar_error("root ::= []") == "grammar: it matches nothing (rule 'root' never completes)");
    // And through the CLI: exit 1, one line.
    const Result r = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", "x", "--grammar", "root ::= (\"a\""});
    CHECK(r.status == 1);
    CHECK(r.err == "kiln: error: grammar, line 1, column 14: expected ')', found the end\n");
}

TEST_CASE("the matcher takes what the grammar describes and nothing else", "[grammar]") {
    const std::string list = "root ::= \"[\" (num (\", \" num)*)? \"]\"\nnum ::= \"-\"? [0-9]+";
    CHECK(matches(list, "[]"));
    CHECK(matches(list, "[1, -22, 333]"));
    CHECK_FALSE(matches(list, "[1,2]"));
    CHECK_FALSE(matches(list, "[1, ]"));
    CHECK_FALSE(matches(list, "[1"));
    CHECK(matches(R"(root ::= [^a-c]+)", "xyz日本"));
    CHECK_FALSE(matches(R"(root ::= [^a-c]+)", "xbz"));
    CHECK(matches(R"(root ::= "ab"{2} "c"{0,2} .)", "ababcc!"));
    CHECK_FALSE(matches(R"(root ::= "ab"{2} "c"{0,2} .)", "ababccc!"));
    // A character split across calls, and invalid UTF-8 refused.
    grammar::Grammar g = grammar::Grammar::parse(R"(root ::= "é" [a-z])");
    grammar::Matcher m(g);
    CHECK(m.accept("\xC3"));
    CHECK_FALSE(m.can_end());
    CHECK(m.accept("\xA9x"));
    CHECK(m.done());
    const grammar::Grammar dot = grammar::Grammar::parse("root ::= .+");
    grammar::Matcher any(dot);
    CHECK_FALSE(any.accept("\xC1\x81"));  // overlong
    CHECK_FALSE(any.accept("\x80"));      // a stray continuation byte
    CHECK(any.accept("\xF0\x9F\x98\x80"));
}

TEST_CASE("generation under a grammar gives only its sentences, on every vocabulary, seed and thread count", "[grammar]") {
    for (const std::string& model : models())
        for (const std::string& g : kGrammars)
            for (int seed = 1; seed <= 4; ++seed) {
                const std::vector<std::string> args = {"run", "-m", model, "-p", "Once upon a time", "--grammar", g,
                                                       "-n", "120", "--seed", std::to_string(seed), "--temp", "1.5", "--json"};
                auto two = args;
                two.insert(two.end(), {"-t", "2"});
                auto one = args;
                one.insert(one.end(), {"-t", "1"});
                const auto a = run_json(two), b = run_json(one);
                INFO(model << "\n" << g << "\nseed " << seed << ": " << a["text"].dump());
                CHECK(a["finish_reason"] == "eos");
                CHECK(matches(g, a["text"]));
                CHECK(a["text"] == b["text"]);
            }
}

TEST_CASE("JSON schema outputs validate with python3-jsonschema, formats included", "[grammar][reference]") {
    nlohmann::json cases = nlohmann::json::array();
    for (const std::string& model : models())
        for (const std::string& s : kSchemas)
            for (int seed = 1; seed <= 4; ++seed) {
                const auto r = run_json({"run", "-m", model, "-p", "Data:", "--json-schema", s, "-n", "400", "--seed",
                                         std::to_string(seed), "--temp", "1", "--json"});
                INFO(model << " seed " << seed << ": " << r["text"].dump());
                CHECK(r["finish_reason"] == "eos");
                cases.push_back({{"schema", nlohmann::json::parse(s)}, {"text", r["text"]}, {"model", model}, {"seed", seed}});
            }
    const std::string file = temp_dir() + "/schema-cases.json", out = temp_dir() + "/schema-results.json";
    write_file(file, cases.dump());
    REQUIRE(std::system(("/usr/bin/python3 '" KILN_SOURCE_DIR "/scripts/check_json_schema.py' '" + file + "' > '" + out + "'").c_str()) == 0);
    const auto results = nlohmann::json::parse(read_file(out));
    REQUIRE(results.size() == cases.size());
    for (size_t i = 0; i < results.size(); ++i) {
        INFO(cases[i]["model"].get<std::string>() << " seed " << cases[i]["seed"] << "\nschema " << cases[i]["schema"].dump()
                                                  << "\ntext " << cases[i]["text"].get<std::string>() << "\n" << results[i].dump());
        CHECK(results[i]["ok"].get<bool>());
    }
}

TEST_CASE("schema keywords kiln cannot enforce, and broken schemas, are errors naming their path", "[grammar]") {
    const auto error_of = [](const std::string& schema) {
        try {
            grammar::json_schema_to_gbnf(nlohmann::ordered_json::parse(schema));
        } catch (const grammar::Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(error_of(R"({"type": "object", "properties": {"a": {"type": "string", "contentEncoding": "base64"}}})") ==
          "json schema at /properties/a/: keyword \"contentEncoding\" is not supported (kiln cannot enforce it)");
    CHECK(error_of(R"({"type": "string", "format": "email"})").find("format \"email\" is not supported") != std::string::npos);
    CHECK(error_of(R"({"type": "widget"})") == "json schema at /type: unknown type \"widget\"");
    CHECK(error_of(R"({"$ref": "#/$defs/missing"})").find("names no definition") != std::string::npos);
    CHECK(error_of(R"({"allOf": [{"$ref": 5}]})") == "json schema at /allOf/0: $ref must be a string");
    CHECK(error_of(R"({"type": "number", "minimum": 0.5})").find("whole-number bounds") != std::string::npos);
    CHECK(error_of(R"({"type": "object", "required": ["x"]})").find("\"x\" is required but not among the properties") != std::string::npos);
    const Result bad = run_kiln({"run", "-m", model_path("stories260K.gguf"), "-p", "x", "--json-schema", "{not json"});
    CHECK(bad.status == 1);
    CHECK(bad.err.find("the JSON schema is not JSON") != std::string::npos);
}

TEST_CASE("a batch of 64 requests with their own schemas at --parallel 16: valid, and each what kiln run gives", "[grammar][batch]") {
    const std::string model = generated_model("tiny");
    std::string input;
    for (int i = 0; i < 64; ++i) {
        // Ordered: a schema's property order is the order of the object's members.
        const auto schema = nlohmann::ordered_json::parse(kSchemas[static_cast<size_t>(i) % kSchemas.size()]);
        nlohmann::ordered_json line = {{"id", i}, {"prompt", "Record " + std::to_string(i) + ":"}, {"seed", 100 + i}, {"n_predict", 400}};
        if (i % 4 == 0) line["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}}}};
        else line["json_schema"] = schema;
        input += line.dump() + "\n";
    }
    input += R"({"id": "bad", "prompt": "x", "grammar": "root ::= (", "seed": 1})" "\n";
    const std::string in = temp_dir() + "/schema-batch.jsonl", out = temp_dir() + "/schema-batch-out.jsonl";
    write_file(in, input);
    const Result r = run_kiln({"batch", "-m", model, "-i", in, "-o", out, "--no-resume", "--parallel", "16", "--temp", "1", "-t", "2"});
    CHECK(r.status == 3);
    std::map<std::string, nlohmann::json> got;
    const std::string text = read_file(out);
    for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
        const auto j = nlohmann::json::parse(text.substr(start, nl - start));
        got[j["id"].dump()] = j;
    }
    CHECK(got["\"bad\""]["error"].get<std::string>().find("grammar, line 1") != std::string::npos);
    nlohmann::json cases = nlohmann::json::array();
    for (int i = 0; i < 64; i += 1) {
        const auto& g = got[std::to_string(i)];
        REQUIRE(g.contains("text"));
        const std::string& schema = kSchemas[static_cast<size_t>(i) % kSchemas.size()];
        cases.push_back({{"schema", nlohmann::json::parse(schema)}, {"text", g["text"]}});
        if (i % 8 == 0) {  // every eighth also through kiln run
            const auto single = run_json({"run", "-m", model, "-p", "Record " + std::to_string(i) + ":", "--json-schema", schema, "-n", "400",
                                          "--seed", std::to_string(100 + i), "--temp", "1", "--json"});
            CHECK(single["text"] == g["text"]);
        }
    }
    const std::string file = temp_dir() + "/batch-schema-cases.json", res = temp_dir() + "/batch-schema-results.json";
    write_file(file, cases.dump());
    REQUIRE(std::system(("/usr/bin/python3 '" KILN_SOURCE_DIR "/scripts/check_json_schema.py' '" + file + "' > '" + res + "'").c_str()) == 0);
    const auto results = nlohmann::json::parse(read_file(res));
    for (size_t i = 0; i < results.size(); ++i) {
        INFO("line " << i << ": " << cases[i]["text"].get<std::string>() << "\n" << results[i].dump());
        CHECK(results[i]["ok"].get<bool>());
    }
}
