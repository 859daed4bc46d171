/*
 * fuse_io.c - how the request loop reads /dev/fuse: a short spin before it
 * sleeps.
 *
 * A FUSE request costs two wake-ups: the kernel wakes a daemon thread to
 * read it, and the reply wakes the caller. On a virtual machine whose idle
 * vCPUs halt, a wake-up across vCPUs costs 10-40 us, more than most requests
 * take to serve. A program doing many small calls (create, stat, unlink,
 * tar) sends its next request a few microseconds after it got the last
 * reply, so one thread that keeps reading for a little while after each
 * reply (`spin` microseconds, a mount option) picks the next request up
 * without being woken, and keeps its vCPU from halting.
 *
 * How: the device is non-blocking. A thread that finds nothing to read
 * becomes the spinner if nobody is, and retries until its spin runs out
 * (yielding the vCPU between tries, so a caller woken on it runs at once);
 * every other thread, and the spinner after that, sleeps in epoll_wait() on
 * an epoll instance of its own registered with EPOLLEXCLUSIVE, so that a
 * request wakes one sleeper, not all of them (the instance is closed when
 * its thread ends: libfuse starts and ends workers as the load changes). An idle daemon therefore
 * spins for at most `spin` microseconds after its last request, then
 * sleeps: idle cost stays nil.
 *
 * Replies and notifications are written unchanged.
 */
#define FUSE_USE_VERSION 314
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

static atomic_bool spinning;   /* one thread spins at a time */
static int64_t spin_ns;        /* how long; 0: never */
static pthread_key_t epfd_key; /* each thread's epoll instance, closed when it ends */
static pthread_once_t epfd_once = PTHREAD_ONCE_INIT;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void close_epfd(void *p)
{
    close((int)(intptr_t)p - 1);
}

static void make_key(void)
{
    pthread_key_create(&epfd_key, close_epfd);
}

/* The calling thread's epoll instance on fd, made on first use and closed
 * when the thread ends (libfuse starts and ends workers as load changes);
 * -1 if it cannot be made. */
static int thread_epoll(int fd)
{
    pthread_once(&epfd_once, make_key);
    intptr_t v = (intptr_t)pthread_getspecific(epfd_key);
    if (v)
        return (int)v - 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ||
        pthread_setspecific(epfd_key, (void *)(intptr_t)(ep + 1))) {
        close(ep);
        return -1;
    }
    return ep;
}

static void stop_spinning(void *arg)
{
    (void)arg;
    atomic_store(&spinning, false);
}

/* Wait until fd may have a request: on the thread's own epoll instance,
 * or, if it has none, with poll() (then every sleeper wakes). */
static int wait_readable(int fd)
{
    int ep = thread_epoll(fd);
    if (ep >= 0) {
        struct epoll_event ev;
        return epoll_wait(ep, &ev, 1, -1) < 0 ? -1 : 0;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, -1) < 0 ? -1 : 0;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EAGAIN)
            return n;
        if (spin_ns && !atomic_exchange(&spinning, true)) {
            int64_t until = mono_ns() + spin_ns;
            pthread_cleanup_push(stop_spinning, NULL); /* read is a cancellation point */
            do {
                sched_yield();
                n = read(fd, buf, len);
            } while (n < 0 && errno == EAGAIN && mono_ns() < until);
            pthread_cleanup_pop(1);
            if (n >= 0 || errno != EAGAIN)
                return n;
        }
        if (wait_readable(fd) < 0)
            return -1; /* EINTR too: the loop checks whether it must end */
    }
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    return writev(fd, iov, count);
}

int fuse_io_start(struct fuse_session *se, unsigned spin_us)
{
    int fd = fuse_session_fd(se);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    spin_ns = (int64_t)spin_us * 1000;
    static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
    return fuse_session_custom_io(se, &io, fd);
}
