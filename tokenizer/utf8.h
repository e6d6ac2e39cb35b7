// UTF-8 helpers shared by the tokenizers, the stream decoder and the GGUF reader.
#pragma once

#include <cstddef>
#include <string_view>

namespace kiln {

// Length of a valid UTF-8 sequence starting at s[0] (1..4), or 0 when the bytes there do
// not start a valid sequence, or -1 when they are a valid but incomplete prefix.
int utf8_sequence_length(std::string_view s);

bool utf8_valid(std::string_view s);

}  // namespace kiln
