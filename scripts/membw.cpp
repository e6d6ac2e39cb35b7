// The read-bandwidth probe: best of several passes over a 1 GiB buffer, in GB/s.
// usage: membw [THREADS]   (default: physical cores)
#include <cstdio>
#include <cstdlib>

#include "kernels/cpu.h"
#include "kernels/membw.h"

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : kiln::physical_cores();
    if (threads < 1) {
        std::fprintf(stderr, "membw: threads must be at least 1\n");
        return 1;
    }
    std::printf("%.1f\n", kiln::read_bandwidth_gbs(std::size_t{1} << 30, threads, 5));
    return 0;
}
