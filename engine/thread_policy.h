// How many threads a one-token forward pass runs on. On a shared machine another process may
// hold a core; a team of threads then waits at every barrier of the pass for the thread that
// is not running, and one thread is faster than two. The policy times the passes, now and then
// tries the other count for one pass, and keeps whichever does a pass faster. Results do not
// depend on the count, so this changes speed only.
#pragma once

#include <cstddef>

namespace kiln {

class ThreadPolicy {
public:
    explicit ThreadPolicy(int max_threads) : max_(max_threads), current_(max_threads) {}

    // For the next pass.
    int threads();
    // How long the pass threads() was asked for took.
    void record(double seconds);

private:
    static constexpr size_t kProbeEvery = 64;  // passes; a probe at one thread costs about one pass
    int max_, current_;
    bool probing_ = false;
    size_t passes_ = 0;
    double seconds_at_max_ = 0, seconds_at_one_ = 0;  // running averages of a pass; 0: none yet
};

}  // namespace kiln
