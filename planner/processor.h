/*
 * What a Python processor view needs besides SQL (README, "Python processors"): a private
 * work directory per build, the CSV export of the input query, the processor's
 * virtual environment (kept per processor, rebuilt when its requirements file
 * changes) and the child process, killed with its process group at the deadline
 * or on wh_cancel. Not for: creating or loading the temp table (planner/pipeline,
 * planner/s3).
 */
#ifndef DURO_PLANNER_PROCESSOR_H
#define DURO_PLANNER_PROCESSOR_H

#include <stdint.h>

#include "catalog/repo.h"
#include "core/settings.h"
#include "planner/warehouse.h"

/* The output of a child kept for errors: its last bytes. */
#define PROCESSOR_OUTPUT_TAIL 2048

/* Where a processor's virtual environment lives, under the catalog file's directory. */
#define PROCESSOR_VENVS_DIR "venvs"
/* In a virtual environment: the SHA-256 of the requirements it was built from. */
#define PROCESSOR_STAMP_FILE "duro-requirements.sha256"

/*
 * Creates a private directory (mode 0700) for one build of v under $TMPDIR
 * (when absolute) or /tmp. Returns its absolute path (caller frees, after
 * processor_workdir_remove), or NULL with *error.
 */
char *processor_workdir(const View *v, char **error);

/* Removes dir and everything in it; a failure is only logged. */
void processor_workdir_remove(const char *dir);

/*
 * Runs v's input query on w and writes its rows to path as CSV the way
 * PostgreSQL's COPY ... CSV HEADER writes it: a header line of column names,
 * fields separated by commas, quoted (quotes doubled) when they hold a comma, a
 * quote, CR or LF, are empty, or are a lone \. (the only column); NULL as an
 * empty unquoted field; lines end with LF. Text is in the connection's client
 * encoding. Returns WH_OK with *rows, or
 * WH_TIMEOUT / WH_CANCELLED, or WH_ERROR with *error (caller frees).
 */
WhStatus processor_export(Warehouse *w, const View *v, const char *path, int64_t deadline_us,
                          int64_t *rows, char **error) MUST_CHECK;

/*
 * The Python to run v's processor with (*python, caller frees): when its
 * requirements file has a line that is not blank or a comment, the python3 of
 * its virtual environment <catalog dir>/venvs/<schema>.<table>, first built
 * (python3 -m venv, then pip install -r) when the file's SHA-256 differs from
 * the one stamped in it after the last successful install; else "python3" as
 * found in PATH. Returns WH_OK, or WH_TIMEOUT / WH_CANCELLED (pip was stopped;
 * no stamp is left, so the next build starts over), or WH_ERROR with *error.
 */
WhStatus processor_python(const Warehouse *w, const Settings *s, const View *v, int64_t deadline_us,
                          char **python, char **error) MUST_CHECK;

/*
 * Runs `python <table>.py in out` in the processor's directory, stdin from
 * /dev/null, with Duro's environment less its DURO_* variables. Returns WH_OK
 * when it exited with status 0 having written out; WH_TIMEOUT / WH_CANCELLED
 * when it was killed for that; WH_ERROR with *error naming its exit status (or
 * signal) and the end of what it wrote to stdout and stderr.
 */
WhStatus processor_run(const Warehouse *w, const Settings *s, const View *v, const char *python,
                       const char *in, const char *out, int64_t deadline_us,
                       char **error) MUST_CHECK;

#endif
