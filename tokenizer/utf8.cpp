#include "tokenizer/utf8.h"

#include <cstdint>

namespace kiln {

int utf8_sequence_length(std::string_view s) {
    if (s.empty()) return -1;
    const auto b0 = static_cast<uint8_t>(s[0]);
    if (b0 < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte (RFC 3629 table)
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;  // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    for (int i = 1; i < len; ++i) {
        if (static_cast<size_t>(i) >= s.size()) return -1;
        const auto b = static_cast<uint8_t>(s[i]);
        const uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xbf;
        if (b < l || b > h) return 0;
    }
    return len;
}

bool utf8_valid(std::string_view s) {
    while (!s.empty()) {
        const int len = utf8_sequence_length(s);
        if (len <= 0) return false;
        s.remove_prefix(static_cast<size_t>(len));
    }
    return true;
}

}  // namespace kiln
