// A read-bandwidth probe: the roofline that generation speed is measured against.
#pragma once

#include <cstddef>

namespace kiln {

// Reads a buffer of `bytes` (much larger than the caches) with n_threads threads, `reps`
// times, and returns the best rate in GB/s (1e9 bytes per second).
double read_bandwidth_gbs(size_t bytes, int n_threads, int reps);

}  // namespace kiln
