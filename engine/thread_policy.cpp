#include "engine/thread_policy.h"

namespace kiln {

int ThreadPolicy::threads() {
    if (max_ <= 1) return 1;
    ++passes_;
    // Two probes early (after the passes that start the threads), then seldom.
    probing_ = passes_ == 4 || passes_ == 6 || passes_ % kProbeEvery == 0;
    const int other = current_ == max_ ? 1 : max_;
    return probing_ ? other : current_;
}

void ThreadPolicy::record(double seconds) {
    if (max_ <= 1 || passes_ < 3) return;  // the first passes pay for starting the threads
    const bool at_max = (current_ == max_) != probing_;
    double& average = at_max ? seconds_at_max_ : seconds_at_one_;
    const double weight = probing_ ? 0.6 : 0.3;  // a probe's figure is the news: the average is old
    average = average == 0 ? seconds : (1 - weight) * average + weight * seconds;
    if (!probing_ || seconds_at_max_ == 0 || seconds_at_one_ == 0) return;
    // Switch only for a clear gain: a pass's time wanders by several percent on its own.
    if (current_ == max_ && seconds_at_one_ < 0.8 * seconds_at_max_) current_ = 1;
    else if (current_ == 1 && seconds_at_max_ < 0.8 * seconds_at_one_) current_ = max_;
}

}  // namespace kiln
