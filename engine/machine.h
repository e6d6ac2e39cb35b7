// What the engine tells its callers about the machine it runs on: the kernel levels and which the
// CPU has, its physical cores, and the read-bandwidth probe generation speed is measured against.
// (The command line reaches these facts of kernels/ only through here.)
#pragma once

#include "kernels/cpu.h"
#include "kernels/membw.h"
