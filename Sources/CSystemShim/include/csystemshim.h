#ifndef CSYSTEMSHIM_H
#define CSYSTEMSHIM_H

#include <stdint.h>

/* What Swift's Glibc module does not export (setns, unshare, CLONE_NEWNET, TUNSETIFF,
   struct ifreq): thin wrappers that return -1 and leave errno set on failure. */

/* Moves the calling thread into the network namespace of `fd`. */
int cvg_setns_net(int fd);

/* Gives the calling thread a new, empty network namespace. */
int cvg_unshare_net(void);

/* Bind-mounts `source` on `target` (how `ip netns add` pins a namespace to a file). */
int cvg_bind_mount(const char *source, const char *target);

/* Makes `path` a shared mount point (bind-mounting it on itself first if needed), as
   `ip netns add` does for /run/netns, so that pinned namespaces propagate. */
int cvg_make_shared(const char *path);

/* Detaches the mount at `target` (MNT_DETACH). */
int cvg_umount(const char *target);

/* Creates a persistent TAP device named `name` in the calling thread's network
   namespace (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), owned by root. */
int cvg_tap_create(const char *name);

/* The kernel thread id of the caller (for /proc/self/task/TID/ns/net). */
int cvg_gettid(void);

/* inotify_init1(IN_NONBLOCK | IN_CLOEXEC). */
int cvg_inotify_init(void);

/* Watches `path` for what changes a spec tree: create, delete, write, moves. */
int cvg_inotify_watch_tree_events(int fd, const char *path);

/* pidfd_open(pid, 0): a descriptor that becomes readable when the process exits. */
int cvg_pidfd_open(int pid);

/* sendmsg(2) of `len` bytes of `buf` on a connected Unix socket with `fd` attached as
   SCM_RIGHTS ancillary data (CMSG_* are macros Swift cannot import); MSG_NOSIGNAL |
   MSG_DONTWAIT. Returns the bytes sent, or -1 with errno set. */
long cvg_send_with_fd(int sock, const void *buf, unsigned long len, int fd);

/* Fixes glibc's mmap threshold at `bytes` (mallopt M_MMAP_THRESHOLD, a macro of
   <malloc.h> Swift's Glibc module does not import): larger allocations are mapped and
   returned to the system when freed. Returns 1 on success. */
int cvg_fix_mmap_threshold(int bytes);

/* malloc_trim(0): returns the free memory of every malloc arena to the kernel. */
int cvg_malloc_trim(void);

/* Each malloc arena grows by `bytes` beyond what is asked, and keeps up to twice that
   free at its top instead of returning it at once (mallopt M_TOP_PAD, M_TRIM_THRESHOLD).
   Returns 1 on success. */
int cvg_keep_arena_tops(int bytes);

/* epoll, which Swift's Glibc module does not export (and whose event struct is packed):
   epoll_create1(EPOLL_CLOEXEC). */
int cvg_epoll_create(void);

/* Registers `fd` once (EPOLLONESHOT) for EPOLLIN, or EPOLLOUT when `writable`. */
int cvg_epoll_add(int epoll, int fd, int writable);

/* Removes `fd` from `epoll`. */
int cvg_epoll_del(int epoll, int fd);

/* epoll_wait(2), writing the ready descriptors (not the events) into `fds`. */
int cvg_epoll_wait(int epoll, int *fds, int max, int timeout_ms);

/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int cvg_eventfd(void);

/* renameat2(a, b, RENAME_EXCHANGE): swaps the two names in one step. */
int cvg_rename_exchange(const char *a, const char *b);

#endif
