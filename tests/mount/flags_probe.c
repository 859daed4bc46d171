/*
 * flags_probe.c - the inode-flag ioctls as a program may send them itself,
 * for tests/mount/flags.sh. chattr only uses FS_IOC_GETFLAGS/SETFLAGS,
 * which the kernel answers through its own checks; the 32-bit numbers
 * (FS_IOC32_*) that a 64-bit process can also send reach the filesystem
 * as they are, and the test needs to send them.
 *
 *   flags_probe get32 PATH         FS_IOC32_GETFLAGS: prints the flags (hex)
 *   flags_probe set32 PATH FLAGS   FS_IOC32_SETFLAGS with FLAGS (a number)
 *
 * Success prints "ok" (or the flags) and exits 0; a refused ioctl prints
 * the errno's name (ENOTTY, EPERM, ...) and exits 2; anything else (bad
 * arguments, a file that cannot be opened) is a message on stderr and
 * exit 1, so that a test tells a refusal from a broken probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: flags_probe get32 PATH | flags_probe set32 PATH FLAGS\n");
    return 1;
}

static int refused(void)
{
    const char *n = strerrorname_np(errno);
    printf("%s\n", n ? n : "E?");
    return 2;
}

int main(int argc, char **argv)
{
    bool set = argc == 4 && !strcmp(argv[1], "set32");
    if (!set && !(argc == 3 && !strcmp(argv[1], "get32")))
        return usage();
    int v = 0;
    if (set) {
        char *end;
        v = (int)strtol(argv[3], &end, 0);
        if (!*argv[3] || *end)
            return usage();
    }
    int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "flags_probe: cannot open %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    int r = ioctl(fd, set ? FS_IOC32_SETFLAGS : FS_IOC32_GETFLAGS, &v);
    close(fd);
    if (r < 0)
        return refused();
    if (set)
        printf("ok\n");
    else
        printf("%#x\n", (unsigned)v);
    return 0;
}
