#include "engine/memory.h"

#include <cstdio>
#include <fstream>

#include "engine/error.h"

namespace kiln {

size_t available_memory() {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    size_t kib = 0;
    while (in >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib * 1024;
    return 0;
}

namespace {

std::string gib(size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

}  // namespace

void check_memory(size_t bytes, const std::string& what) {
    const size_t available = available_memory();
    if (available != 0 && bytes > available)
        throw Error(what + " needs " + gib(bytes) + " but only " + gib(available) + " of memory is available");
}

}  // namespace kiln
