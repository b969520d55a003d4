#ifndef CCORVID_SHIMS_H
#define CCORVID_SHIMS_H

/// Flushes every dirty page and inode of the file system holding `fd` (Linux syncfs(2)).
/// Returns 0 on success, -1 with errno set. On systems without syncfs it returns -1/ENOSYS.
int corvid_syncfs(int fd);

#endif
