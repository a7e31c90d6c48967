#include "KilnBuildInfo.h"

// Package.swift defines KILN_COMMIT (a string literal) on this target alone when the
// environment names one, so only this file is rebuilt when the commit changes.
const char *kiln_build_commit(void) {
#ifdef KILN_COMMIT
    return KILN_COMMIT;
#else
    return 0;
#endif
}
