/*
 * handle_probe.c - file handles through a mount, for tests/mount/handles.sh.
 *
 *   handle_probe save PATH FILE        name_to_handle_at(PATH): the handle's
 *                                      bytes go to FILE
 *   handle_probe open MOUNTPOINT FILE  open_by_handle_at with the handle in
 *                                      FILE, relative to MOUNTPOINT's mount
 *
 * `open` prints what it opened - a regular file's bytes, or a directory's
 * entry names (without "." and ".."), sorted, one a line - and exits 0; or
 * it prints the errno's name (ESTALE, ...) and exits 2. Any other failure
 * (bad arguments, a file that cannot be read) is a message on stderr and
 * exit 1, so that a test tells a refused handle from a broken probe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: handle_probe save PATH FILE | handle_probe open MOUNTPOINT FILE\n");
    return 1;
}

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static int save(const char *path, const char *file)
{
    struct file_handle *fh = calloc(1, sizeof *fh + MAX_HANDLE_SZ);
    int mount_id;
    if (!fh)
        return 1;
    fh->handle_bytes = MAX_HANDLE_SZ;
    if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) < 0) {
        printf("%s\n", ename(errno));
        free(fh);
        return 2;
    }
    FILE *f = fopen(file, "wb");
    size_t len = sizeof *fh + fh->handle_bytes;
    if (!f || fwrite(fh, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "handle_probe: cannot write %s: %s\n", file, strerror(errno));
        free(fh);
        return 1;
    }
    free(fh);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int show_dir(int fd)
{
    struct dirent **names;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "handle_probe: cannot list the directory: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
            printf("%s\n", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return 0;
}

static int show_file(int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    if (n < 0) {
        fprintf(stderr, "handle_probe: cannot read the file: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static int open_handle(const char *mnt, const char *file)
{
    struct file_handle *fh = calloc(1, sizeof *fh + MAX_HANDLE_SZ);
    FILE *f = fopen(file, "rb");
    if (!fh || !f) {
        fprintf(stderr, "handle_probe: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    size_t got = fread(fh, 1, sizeof *fh + MAX_HANDLE_SZ, f);
    fclose(f);
    if (got < sizeof *fh || fh->handle_bytes > MAX_HANDLE_SZ ||
        got != sizeof *fh + fh->handle_bytes) {
        fprintf(stderr, "handle_probe: %s holds no handle\n", file);
        return 1;
    }
    int mfd = open(mnt, O_RDONLY | O_DIRECTORY);
    if (mfd < 0) {
        fprintf(stderr, "handle_probe: cannot open %s: %s\n", mnt, strerror(errno));
        return 1;
    }
    int fd = open_by_handle_at(mfd, fh, O_RDONLY);
    free(fh);
    close(mfd);
    if (fd < 0) {
        printf("%s\n", ename(errno));
        return 2;
    }
    struct stat st;
    int r = fstat(fd, &st) < 0 ? 1 : S_ISDIR(st.st_mode) ? show_dir(fd) : show_file(fd);
    close(fd);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return usage();
    if (!strcmp(argv[1], "save"))
        return save(argv[2], argv[3]);
    if (!strcmp(argv[1], "open"))
        return open_handle(argv[2], argv[3]);
    return usage();
}
