// One kiln batch input line from the fuzzer, as JSON and as plain text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cmd/batch_request.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const kiln::GenerationParams defaults;
    for (bool plain : {false, true}) {
        kiln::cli::BatchLine out;
        try {
            kiln::cli::parse_batch_line(line, 1, plain, defaults, out);
        } catch (const kiln::Error&) {
            continue;  // a one-line error: what kiln batch writes as an error line
        }
        if (!plain && !out.id.is_string() && !out.id.is_number_integer()) __builtin_trap();
    }
    return 0;
}
