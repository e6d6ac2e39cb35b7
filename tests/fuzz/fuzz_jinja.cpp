// A chat template from the fuzzer, parsed and rendered with a small conversation: it either
// renders or ends in jinja::Error, within the limits, never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jinja/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto vars = nlohmann::ordered_json::parse(R"({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \u00e9"},
                     {"role": "assistant", "content": "<think>x</think>Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                     {"role": "tool", "content": [{"type": "text", "text": "42"}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
    jinja::RenderOptions options;
    options.max_steps = 100000;
    options.max_output = 1 << 20;
    try {
        const jinja::Template t(std::string_view(reinterpret_cast<const char*>(data), size));
        const std::string out = t.render(vars, options);
        if (out.size() > options.max_output) __builtin_trap();
    } catch (const jinja::Error&) {
    }
    return 0;
}
