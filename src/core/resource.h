/*
 * core/resource.h — errors for exhausted system resources, naming the
 * limit that was hit, and a check that file descriptors are available
 * before a step that cannot fail cleanly without them.
 *
 * Internal to the library (not installed), shared by net/ and discovery/.
 *
 * A resource failure is reported with MK_EBUSY (retry once something was
 * released) or MK_ENOMEM, and a reason that says which limit it was:
 *   EMFILE  the process's RLIMIT_NOFILE (its soft and hard values),
 *   ENFILE  the system-wide file table (fs.file-max),
 *   EAGAIN  for a thread, RLIMIT_NPROC or the kernel's thread limit,
 *   ENOMEM  memory.
 */
#ifndef MOSAIK_CORE_RESOURCE_H
#define MOSAIK_CORE_RESOURCE_H

#include "mosaik/error.h"

/* Set err for `what` having failed with errno value e (a positive errno,
 * or a negative libuv code, which is -errno on Linux); returns the code. */
int mk_resource_error(mk_error *err, int e, const char *what);

/* 0 when n more file descriptors can be opened now (each is opened and
 * closed again), else the mk_resource_error for `what`. Other threads may
 * take them meanwhile: this catches the common case of a process at its
 * limit, and the step that follows still checks its own result. */
int mk_resource_fds_available(int n, const char *what, mk_error *err);

#endif
