// Template source to tokens, with Hugging Face's whitespace settings (trim_blocks,
// lstrip_blocks, a final newline dropped) and the -/+ controls of each tag applied to the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jinja {

struct Token {
    enum class Type { text, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };
    Type type;
    std::string text;  // text, names, strings (decoded), operators
    int64_t integer = 0;
    double floating = 0.0;
    int line = 1;
};

// Throws Error for an unterminated tag, comment or string.
std::vector<Token> tokenize(std::string_view source);

}  // namespace jinja
