// UTF-8 helpers shared by the tokenizers, the stream decoder and the GGUF reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

// Length of a valid UTF-8 sequence starting at s[0] (1..4), or 0 when the bytes there do
// not start a valid sequence, or -1 when they are a valid but incomplete prefix.
int utf8_sequence_length(std::string_view s);

bool utf8_valid(std::string_view s);

// The UTF-8 bytes of a code point (below 0x110000).
std::string utf8_encode(uint32_t cp);

// The code point of the valid sequence s (as utf8_sequence_length measured it).
uint32_t utf8_decode(std::string_view s);

}  // namespace kiln
