/*
 * View configuration files (global.conf, schema and table .conf files): the
 * key=value grammar, validation of keys and values, and inheritance, where
 * each more specific file is applied on top of the result so far.
 * Pure: text in, data out; reading files is the loader's job.
 */
#ifndef DURO_CATALOG_CONFIG_H
#define DURO_CATALOG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/diag.h"
#include "core/util.h"

#define CONFIG_DEFAULT_TIMEOUT (3600) /* 1h */

typedef enum ConfigOp {
    CONFIG_SET,    /* key=value */
    CONFIG_ADD,    /* key+=value (grant_select only) */
    CONFIG_REMOVE, /* key-=value (grant_select only) */
    CONFIG_RESET,  /* key=null */
} ConfigOp;

/* One meaningful line of a .conf file, already validated. */
typedef struct ConfigEntry {
    char *key;
    ConfigOp op;
    char *value; /* trimmed raw value; NULL for CONFIG_RESET */
    int line;
} ConfigEntry;

/* One parsed .conf file. */
typedef struct ConfigFile {
    char *path; /* relative to the repository root */
    ConfigEntry *entries;
    size_t n;
    size_t cap;
} ConfigFile;

/* Where a key's current value was set, for error messages. */
typedef struct ConfigOrigin {
    const char *path; /* borrowed from the ConfigFile; NULL while unset */
    int line;
} ConfigOrigin;

typedef enum StaleRead { STALE_READ_WAIT, STALE_READ_SERVE } StaleRead;

/* The effective configuration of one view. Zero values are not defaults: use config_init. */
typedef struct ViewConfig {
    StrVec grant_select;          /* grantees, sorted, unique: "jane", "group analysts", "role x" */
    char *diststyle;              /* "even", "key", "all", "auto", or NULL (unset) */
    char *distkey;                /* column, or NULL */
    StrVec sortkey;               /* columns in order; empty when unset */
    int64_t snapshots_interval;   /* seconds; 0 = no snapshots */
    int64_t snapshots_stored_for; /* seconds; 0 = kept forever */
    StaleRead stale_read;
    int64_t timeout; /* seconds */
    bool enabled;
    int64_t alert_after; /* seconds without a successful refresh before a notification; 0 = off */
    int64_t idle_after;  /* seconds without a read before scheduled refreshes stop; 0 = off */
    ConfigOrigin distkey_origin;
    ConfigOrigin sortkey_origin;
} ViewConfig;

/*
 * Parses the text of a .conf file. Every malformed line (syntax, unknown key,
 * bad value) is reported into diags and left out of *out; the rest is kept.
 */
void config_file_parse(const char *path, const char *text, ConfigFile *out, DiagList *diags);
void config_file_free(ConfigFile *f);

void config_init(ViewConfig *c); /* the defaults */
/* Applies f on top of c: later files override, += and -= edit grant_select, null resets. */
void config_apply(ViewConfig *c, const ConfigFile *f);
void config_copy(ViewConfig *dst, const ViewConfig *src);
void config_free(ViewConfig *c);

/*
 * A canonical text form of the effective configuration, one "key=value" a line
 * in a fixed order with defaults written out. Two configs that behave the same
 * describe the same; used for the definition hash and stored in the catalog.
 */
char *config_describe(const ViewConfig *c);
/* The stale_read of a config_describe text; STALE_READ_WAIT when it names none. */
StaleRead config_described_stale_read(const char *described);
/* The alert_after (seconds) of a config_describe text; 0 when it names none. */
int64_t config_described_alert_after(const char *described);
/* The idle_after (seconds) of a config_describe text; 0 when it names none. */
int64_t config_described_idle_after(const char *described);

#endif
