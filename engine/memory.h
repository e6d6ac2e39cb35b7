// What the machine can give: memory is checked before large allocations, so that a request
// too big for it fails with a message instead of the kernel's out-of-memory killer.
#pragma once

#include <cstddef>
#include <string>

namespace kiln {

// MemAvailable from /proc/meminfo in bytes; 0 when unknown.
size_t available_memory();

// Throws Error naming `what`, the bytes it needs and the bytes available, when it needs more
// than the memory available (nothing is checked when that is unknown).
void check_memory(size_t bytes, const std::string& what);

}  // namespace kiln
