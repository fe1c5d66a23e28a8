/*
 * A Python processor's build outside the warehouse (see processor.h): work
 * directory, CSV export, virtual environment and the child process. Children
 * are started with posix_spawn in a process group of their own and watched in
 * short poll() slices, checking the deadline and the cancel flag between slices;
 * either kills the whole group with SIGKILL. Not for: the SQL of the build.
 */
#include "planner/processor.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "planner/dialect.h"

extern char **environ;

/* The slice of a wait between checks of the deadline and the cancel flag. */
#define PROCESSOR_SLICE_MS 100

/* The last bytes a child wrote. */
typedef struct Tail {
    char text[PROCESSOR_OUTPUT_TAIL];
    size_t len;
    bool cut; /* earlier output was dropped */
} Tail;

/* Appends n bytes of data, keeping only the last PROCESSOR_OUTPUT_TAIL. */
static void tail_add(Tail *t, const char *data, size_t n)
{
    if (n >= sizeof(t->text)) {
        t->cut = t->cut || t->len > 0 || n > sizeof(t->text);
        memcpy(t->text, data + n - sizeof(t->text), sizeof(t->text));
        t->len = sizeof(t->text);
        return;
    }
    size_t keep = t->len + n > sizeof(t->text) ? sizeof(t->text) - n : t->len;
    t->cut = t->cut || keep < t->len;
    memmove(t->text, t->text + t->len - keep, keep);
    memcpy(t->text + keep, data, n);
    t->len = keep + n;
}

/* The tail as text for an error: blanks trimmed, not starting inside a UTF-8 character. */
static char *tail_text(const Tail *t)
{
    size_t start = 0, end = t->len;
    while (t->cut && start < end && ((unsigned char)t->text[start] & 0xC0) == 0x80)
        start++;
    while (start < end && strchr(" \t\r\n", t->text[start]))
        start++;
    while (end > start && strchr(" \t\r\n", t->text[end - 1]))
        end--;
    if (start == end)
        return xstrdup("(no output)");
    return xasprintf("%s%.*s", t->cut ? "..." : "", (int)(end - start), t->text + start);
}

/* Why a child must stop now: WH_CANCELLED, WH_TIMEOUT, or WH_OK when it need not. */
static WhStatus stop_reason(const Warehouse *w, int64_t deadline_us)
{
    if (wh_cancel_requested(w))
        return WH_CANCELLED;
    if (deadline_us && clock_mono_us() >= deadline_us)
        return WH_TIMEOUT;
    return WH_OK;
}

/* Duro's environment without its own DURO_* variables (they may hold secrets). Free the array. */
static char **child_environment(void)
{
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **env = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "DURO_", 5) != 0)
            env[k++] = *e;
    return env;
}

/* "exited with status N" or "was killed by signal N", from a waitpid status. */
static char *exit_text(int status)
{
    if (WIFSIGNALED(status))
        return xasprintf("was killed by signal %d", WTERMSIG(status));
    return xasprintf("exited with status %d", WEXITSTATUS(status));
}

/* Starts argv in cwd (stdin /dev/null, stdout and stderr into out_fd) in a new process group. */
static int spawn_child(char *const argv[], const char *cwd, int out_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    /* The daemon blocks and ignores these for itself; the child gets them back. */
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    char **env = child_environment();
    int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, env);
    free(env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/*
 * Runs argv[0] (looked up in PATH when it has no '/') in directory cwd and waits
 * until it exits, the deadline passes or wh_cancel is called on w; then its
 * whole process group is killed, so nothing it started outlives it. Its output
 * goes to *tail. Returns WH_OK with *status (as from waitpid), WH_TIMEOUT or
 * WH_CANCELLED, or WH_ERROR with *error when it could not be started.
 */
static WhStatus run_child(const Warehouse *w, char *const argv[], const char *cwd,
                          int64_t deadline_us, int *status, Tail *tail, char **error)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        *error = xasprintf("cannot start %s: %s", argv[0], strerror(errno));
        return WH_ERROR;
    }
    pid_t pid;
    int rc = spawn_child(argv, cwd, fds[1], &pid);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        *error = xasprintf("cannot start %s: %s", argv[0], strerror(rc));
        return WH_ERROR;
    }
    WhStatus st = WH_OK;
    int fd = fds[0];
    for (;;) {
        /* Exited? Look without reaping: the pid, and so its group, stays ours until waitpid. */
        siginfo_t info = {0};
        int waited = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((waited == 0 && info.si_pid == pid) || (waited != 0 && errno != EINTR))
            break;
        if ((st = stop_reason(w, deadline_us)) != WH_OK)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, fd >= 0 ? PROCESSOR_SLICE_MS : 10) > 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n > 0) {
                tail_add(tail, buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(fd);
                fd = -1;
            }
        }
    }
    kill(-pid, SIGKILL);
    for (ssize_t n = 1; fd >= 0 && n > 0;) {
        char buf[4096];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        n = poll(&p, 1, 0) > 0 ? read(fd, buf, sizeof(buf)) : 0;
        if (n > 0)
            tail_add(tail, buf, (size_t)n);
    }
    if (fd >= 0)
        close(fd);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/*
 * run_child, with a start failure or an exit other than 0 as WH_ERROR: *error then says
 * "<name> exited with status N: <the end of its output>" (or why it could not start).
 */
static WhStatus run_checked(const Warehouse *w, char *const argv[], const char *cwd,
                            int64_t deadline_us, const char *name, char **error)
{
    Tail tail = {0};
    int status = 0;
    char *why = NULL;
    WhStatus st = run_child(w, argv, cwd, deadline_us, &status, &tail, &why);
    if (st == WH_ERROR) {
        *error = xasprintf("%s: %s", name, why);
    } else if (st == WH_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char *how = exit_text(status), *out = tail_text(&tail);
        *error = xasprintf("%s %s: %s", name, how, out);
        free(how);
        free(out);
        st = WH_ERROR;
    }
    free(why);
    return st;
}

/* ---- Paths ---- */

/* The directory part of a '/'-separated path ("." when none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

/* The last part of a '/'-separated path. */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The absolute path of an existing file or directory, or NULL with *error. Caller frees. */
static char *absolute(const char *path, char **error)
{
    char *out = realpath(path, NULL);
    if (!out)
        *error = xasprintf("cannot find %s: %s", path, strerror(errno));
    return out;
}

/* The absolute directory of v's processor in the views repository, or NULL with *error. */
static char *processor_dir(const Settings *s, const View *v, char **error)
{
    char *rel = dir_of(v->processor);
    char *path = xasprintf("%s/%s", s->views.path, rel);
    char *out = absolute(path, error);
    free(path);
    free(rel);
    return out;
}

/* nftw callback: removes one entry, directories after their contents. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP || flag == FTW_DNR ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

/* Removes path and everything under it; 0 also when it did not exist, else -1 (errno set). */
static int remove_tree(const char *path)
{
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

char *processor_workdir(const View *v, char **error)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    char *dir = xasprintf("%s/duro-%s-XXXXXX", tmp, v->name);
    if (!mkdtemp(dir)) {
        *error = xasprintf("cannot create a work directory in %s: %s", tmp, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

void processor_workdir_remove(const char *dir)
{
    if (remove_tree(dir) != 0)
        log_warn("cannot remove the work directory %s: %s", dir, strerror(errno));
}

/* ---- Input ---- */

/* The CSV file being written from the rows of the input query. */
typedef struct Export {
    FILE *f;
    bool header_written;
    int64_t rows;
} Export;

/* One field as COPY ... CSV writes it; NULL as nothing. alone: the row has no other field. */
static void csv_field(FILE *f, const char *value, bool null, bool alone)
{
    if (null)
        return;
    /* A line of just \. would end the data of a COPY FROM STDIN: quoted, as COPY does. */
    if (*value != '\0' && !strpbrk(value, ",\"\r\n") && !(alone && strcmp(value, "\\.") == 0)) {
        fputs(value, f);
        return;
    }
    putc('"', f);
    for (const char *p = value; *p; p++) {
        if (*p == '"')
            putc('"', f);
        putc(*p, f);
    }
    putc('"', f);
}

/* WhRowFn: the header line with the first result, then a line per row. */
static int export_rows(void *arg, const PGresult *res, char **error)
{
    Export *e = arg;
    int columns = PQnfields(res);
    if (!e->header_written) {
        for (int c = 0; c < columns; c++) {
            if (c > 0)
                putc(',', e->f);
            csv_field(e->f, PQfname(res, c), false, columns == 1);
        }
        putc('\n', e->f);
        e->header_written = true;
    }
    for (int i = 0; i < PQntuples(res); i++, e->rows++) {
        for (int c = 0; c < columns; c++) {
            if (c > 0)
                putc(',', e->f);
            csv_field(e->f, PQgetvalue(res, i, c), PQgetisnull(res, i, c), columns == 1);
        }
        putc('\n', e->f);
    }
    if (ferror(e->f)) {
        *error = xasprintf("cannot write the processor's input: %s", strerror(errno));
        return -1;
    }
    return 0;
}

WhStatus processor_export(Warehouse *w, const View *v, const char *path, int64_t deadline_us,
                          int64_t *rows, char **error)
{
    *rows = -1;
    char *query = dialect_statement(v->query);
    if (!query) {
        *error = xasprintf("input query failed: %s does not hold exactly one statement",
                           v->query_source);
        return WH_ERROR;
    }
    Export e = {fopen(path, "wxe"), false, 0};
    if (!e.f) {
        *error = xasprintf("cannot write the processor's input %s: %s", path, strerror(errno));
        free(query);
        return WH_ERROR;
    }
    setvbuf(e.f, NULL, _IOFBF, 64 * 1024);
    WhStatus st = wh_query_rows(w, query, deadline_us, export_rows, &e);
    if (st == WH_ERROR) /* the query's error, or the file's (which says so) */
        *error =
            ferror(e.f) ? xstrdup(wh_error(w)) : xasprintf("input query failed: %s", wh_error(w));
    if (fclose(e.f) != 0 && st == WH_OK) {
        *error = xasprintf("cannot write the processor's input %s: %s", path, strerror(errno));
        st = WH_ERROR;
    }
    if (st == WH_OK)
        *rows = e.rows;
    free(query);
    return st;
}

/* ---- The virtual environment ---- */

/* Whether a requirements file names anything: a line that is not blank or a comment. */
static bool has_requirements(const char *text)
{
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        size_t i = strspn(line, " \t\r\f\v");
        if (i < len && line[i] != '#')
            return true;
        line += len + (line[len] == '\n');
    }
    return false;
}

/* Whether the environment at venv was built from requirements hashed as hex. */
static bool venv_current(const char *venv, const char *hex)
{
    char *stamp = xasprintf("%s/%s", venv, PROCESSOR_STAMP_FILE);
    size_t len;
    char *text = read_file(stamp, &len);
    bool ok = text && strcmp(str_trim(text), hex) == 0;
    free(text);
    free(stamp);
    return ok;
}

/* Writes the stamp of a finished install (through a rename: never half a stamp). 0 or -1. */
static int venv_stamp(const char *venv, const char *hex)
{
    char *stamp = xasprintf("%s/%s", venv, PROCESSOR_STAMP_FILE);
    char *tmp = xasprintf("%s.tmp", stamp);
    FILE *f = fopen(tmp, "we");
    int rc = -1;
    if (f) {
        bool written = fprintf(f, "%s\n", hex) > 0;
        if (fclose(f) == 0 && written && rename(tmp, stamp) == 0)
            rc = 0;
    }
    free(tmp);
    free(stamp);
    return rc;
}

/*
 * Runs one step of building the environment; on failure *error says "<what> failed: <cmd>
 * exited with status N: <output>" (or why it could not start).
 */
static WhStatus venv_step(const Warehouse *w, char *const argv[], const char *cwd,
                          int64_t deadline_us, const char *what, const char *cmd, char **error)
{
    char *why = NULL;
    WhStatus st = run_checked(w, argv, cwd, deadline_us, cmd, &why);
    if (st == WH_ERROR)
        *error = xasprintf("%s failed: %s", what, why);
    free(why);
    return st;
}

/* Creates the environment at venv afresh and installs requirements (absolute) into it. */
static WhStatus venv_build(const Warehouse *w, const View *v, const char *venv,
                           const char *requirements, const char *cwd, const char *hex,
                           int64_t deadline_us, char **error)
{
    char *what = xasprintf("installing %s", v->requirements);
    char *parent = dir_of(venv);
    char *pip = xasprintf("%s/bin/pip", venv);
    char *create[] = {"python3", "-m", "venv", (char *)venv, NULL};
    char *install[] = {pip, "install", "--disable-pip-version-check", "-r", (char *)requirements,
                       NULL};
    WhStatus st = WH_ERROR;
    log_info("%s: building the virtual environment %s from %s", v->name, venv, v->requirements);
    if (remove_tree(venv) != 0 || (mkdir(parent, 0755) != 0 && errno != EEXIST))
        *error = xasprintf("%s failed: cannot prepare %s: %s", what, venv, strerror(errno));
    else if ((st = venv_step(w, create, cwd, deadline_us, what, "python3 -m venv", error)) ==
                 WH_OK &&
             (st = venv_step(w, install, cwd, deadline_us, what, "pip install", error)) == WH_OK &&
             venv_stamp(venv, hex) != 0) {
        *error = xasprintf("%s failed: cannot write %s/%s: %s", what, venv, PROCESSOR_STAMP_FILE,
                           strerror(errno));
        st = WH_ERROR;
    }
    free(pip);
    free(parent);
    free(what);
    return st;
}

WhStatus processor_python(const Warehouse *w, const Settings *s, const View *v, int64_t deadline_us,
                          char **python, char **error)
{
    *python = NULL;
    if (!v->requirements) {
        *python = xstrdup("python3");
        return WH_OK;
    }
    char *path = xasprintf("%s/%s", s->views.path, v->requirements);
    size_t len = 0;
    char *text = read_file(path, &len);
    char *requirements = NULL, *cwd = NULL, *catalog_dir = NULL, *venv = NULL;
    WhStatus st = WH_ERROR;
    if (!text) {
        *error = xasprintf("cannot read %s: %s", v->requirements, strerror(errno));
        goto done;
    }
    if (!has_requirements(text)) {
        *python = xstrdup("python3");
        st = WH_OK;
        goto done;
    }
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(text, len, hex);
    char *rel_catalog_dir = dir_of(s->catalog.path);
    catalog_dir = absolute(rel_catalog_dir, error);
    free(rel_catalog_dir);
    if (!catalog_dir || !(requirements = absolute(path, error)) ||
        !(cwd = processor_dir(s, v, error)))
        goto done;
    char *venvs = xasprintf("%s/%s", catalog_dir, PROCESSOR_VENVS_DIR);
    venv = xasprintf("%s/%s", venvs, v->name);
    free(venvs);
    st = venv_current(venv, hex)
             ? WH_OK
             : venv_build(w, v, venv, requirements, cwd, hex, deadline_us, error);
    if (st == WH_OK)
        *python = xasprintf("%s/bin/python3", venv);
done:
    free(venv);
    free(catalog_dir);
    free(requirements);
    free(cwd);
    free(text);
    free(path);
    return st;
}

/* ---- The processor ---- */

WhStatus processor_run(const Warehouse *w, const Settings *s, const View *v, const char *python,
                       const char *in, const char *out, int64_t deadline_us, char **error)
{
    const char *script = base_of(v->processor);
    char *cwd = processor_dir(s, v, error);
    if (!cwd)
        return WH_ERROR;
    char *argv[] = {(char *)python, (char *)script, (char *)in, (char *)out, NULL};
    char *name = xasprintf("processor %s", script);
    WhStatus st = run_checked(w, argv, cwd, deadline_us, name, error);
    if (st == WH_OK && access(out, F_OK) != 0) {
        *error = xasprintf("%s exited with status 0 but wrote no output file", name);
        st = WH_ERROR;
    }
    free(name);
    free(cwd);
    return st;
}
