#define _GNU_SOURCE
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "csystemshim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <malloc.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

int cvg_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }

int cvg_unshare_net(void) { return unshare(CLONE_NEWNET); }

int cvg_bind_mount(const char *source, const char *target) {
    return mount(source, target, "none", MS_BIND, NULL);
}

int cvg_make_shared(const char *path) {
    if (mount("", path, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
    if (errno != EINVAL) return -1;
    /* Not a mount point yet: make it one, then shared. */
    if (mount(path, path, "none", MS_BIND | MS_REC, NULL) != 0) return -1;
    return mount("", path, "none", MS_SHARED | MS_REC, NULL);
}

int cvg_umount(const char *target) { return umount2(target, MNT_DETACH); }

int cvg_tap_create(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0 || ioctl(fd, TUNSETPERSIST, 1) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    close(fd);
    return 0;
}

int cvg_gettid(void) { return (int)syscall(SYS_gettid); }

int cvg_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }

int cvg_inotify_watch_tree_events(int fd, const char *path) {
    return inotify_add_watch(fd, path, IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM
                                           | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
int cvg_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

#include <sys/socket.h>
#include <sys/uio.h>

long cvg_send_with_fd(int sock, const void *buf, unsigned long len, int fd) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char bytes[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                          .msg_controllen = sizeof(control.bytes) };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    return (long)sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int cvg_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

int cvg_malloc_trim(void) { return malloc_trim(0); }

int cvg_keep_arena_tops(int bytes) {
    return mallopt(M_TOP_PAD, bytes) && mallopt(M_TRIM_THRESHOLD, 2 * bytes);
}

int cvg_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cvg_epoll_add(int epoll, int fd, int writable) {
    struct epoll_event event = { .events = (writable ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT, .data.fd = fd };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int cvg_epoll_del(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL); }

int cvg_epoll_wait(int epoll, int *fds, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int count = epoll_wait(epoll, events, max, timeout_ms);
    for (int i = 0; i < count; i++) fds[i] = events[i].data.fd;
    return count;
}

int cvg_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int cvg_rename_exchange(const char *a, const char *b) { return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE); }
