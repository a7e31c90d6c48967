#ifndef KILN_BUILD_INFO_H
#define KILN_BUILD_INFO_H

/// The git commit the binary was built from, as KILN_COMMIT named it when Package.swift was
/// read (`make install` sets it); NULL for a build without it.
const char *kiln_build_commit(void);

#endif
