// GGUF bytes from the fuzzer: parsed, then loaded as a model (validation, vocabulary,
// tokenizer) through a memory file, as `kiln run -m` would load them.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "engine/gguf.h"
#include "engine/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        kiln::GgufFile::parse(data, size);
    } catch (const std::exception&) {
        return 0;  // the loader below would refuse it the same way
    }
    const int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data, size) == static_cast<ssize_t>(size)) {
        kiln::ModelOptions options;
        options.isa = kiln::detect_isa();
        options.load = kiln::FileLoad::map;
        try {
            kiln::Model::load("/proc/self/fd/" + std::to_string(fd), options);
        } catch (const std::exception&) {
        }
    }
    close(fd);
    return 0;
}
