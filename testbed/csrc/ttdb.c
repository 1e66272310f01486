/*
 * ttdb.c -- the part of the stand-in TapeTrack Framework Server that talks to Berkeley DB.
 *
 * A small C shim rather than Rust bindings: Berkeley DB's API is a table of function pointers
 * inside DB_ENV / DB structs, which is natural from C and awkward through bindgen. The Rust side
 * (src/) calls the handful of functions below and does everything else (CLI, TCP, service).
 *
 * Everything the replication engine logs goes to the message file through the real library
 * (set_msgfile + DB_VERB_REPLICATION); this file never writes message lines of its own.
 */
#include <db.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tt_server {
    DB_ENV *env;
    FILE *msgfile;
    int replicated;
    int priority;
    volatile int startup_done;
    volatile int is_master;
} tt_server;

static void tt_err(char *err, int errlen, const char *what, int ret) {
    snprintf(err, (size_t)errlen, "%s: %s", what, db_strerror(ret));
}

static void tt_event(DB_ENV *env, u_int32_t which, void *info) {
    tt_server *s = (tt_server *)env->app_private;
    (void)info;
    switch (which) {
    case DB_EVENT_REP_STARTUPDONE:
        s->startup_done = 1;
        break;
    case DB_EVENT_REP_MASTER:
        s->is_master = 1;
        s->startup_done = 1;
        break;
    case DB_EVENT_REP_CLIENT:
        s->is_master = 0;
        break;
    default:
        break;
    }
}

/* Opens the environment in `home` as a Berkeley DB server does: DB_CONFIG is read by the library,
 * recovery runs, region files are created. With `replicated`, DB_INIT_REP and replication
 * verbosity into `msgpath`. */
int tt_open(const char *home, const char *msgpath, int replicated, tt_server **out, char *err, int errlen) {
    tt_server *s = calloc(1, sizeof(*s));
    DB_ENV *env;
    u_int32_t flags = DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN | DB_RECOVER | DB_THREAD;
    int ret;

    if (s == NULL) { tt_err(err, errlen, "calloc", ENOMEM); return ENOMEM; }
    if ((ret = db_env_create(&env, 0)) != 0) { tt_err(err, errlen, "db_env_create", ret); free(s); return ret; }
    s->env = env;
    s->replicated = replicated;
    env->app_private = s;
    env->set_errfile(env, stderr);
    s->msgfile = fopen(msgpath, "a");
    if (s->msgfile == NULL) { tt_err(err, errlen, msgpath, errno); env->close(env, 0); free(s); return errno; }
    setvbuf(s->msgfile, NULL, _IOLBF, 0);
    env->set_msgfile(env, s->msgfile);
    env->set_event_notify(env, tt_event);
    /* A deadlock detector keeps concurrent client reads and replication apply from blocking. */
    env->set_lk_detect(env, DB_LOCK_DEFAULT);
    if (replicated) {
        flags |= DB_INIT_REP;
        env->set_verbose(env, DB_VERB_REPLICATION, 1);
    }
    if ((ret = env->open(env, home, flags, 0)) != 0) {
        tt_err(err, errlen, "DB_ENV->open", ret);
        env->close(env, 0);
        fclose(s->msgfile);
        free(s);
        return ret;
    }
    if (replicated) {
        u_int32_t prio = 0;
        env->rep_get_priority(env, &prio);
        s->priority = (int)prio;
    } else {
        s->is_master = 1;
        s->startup_done = 1;
    }
    *out = s;
    return 0;
}

/* Starts the Replication Manager: priority >= 1 as master, 0 as a client that can never become
 * master. Returns DB_REP_UNAVAIL when a brand-new client could not reach the master (the caller
 * retries, as TapeTrack's replicant waits in Start Pending). */
int tt_start_repmgr(tt_server *s, char *err, int errlen) {
    int ret = s->env->repmgr_start(s->env, 3, s->priority > 0 ? DB_REP_MASTER : DB_REP_CLIENT);
    if (ret != 0) tt_err(err, errlen, "DB_ENV->repmgr_start", ret);
    return ret;
}

int tt_priority(tt_server *s) { return s->priority; }
int tt_startup_done(tt_server *s) { return s->startup_done; }
int tt_is_master(tt_server *s) { return s->is_master; }
int tt_rep_unavail(void) { return DB_REP_UNAVAIL; }
int tt_rep_lockout(void) { return DB_REP_LOCKOUT; }

/* Opens database `name`: created on a master, read-only on a client (it exists once replication
 * has sent it). A fresh handle per request: replication invalidates handles during an internal
 * init (DB_REP_HANDLE_DEAD), and opening a btree handle is cheap. */
static int tt_db(tt_server *s, const char *name, DB **out) {
    DB *db;
    int ret;
    u_int32_t flags = DB_THREAD | DB_AUTO_COMMIT;
    if ((ret = db_create(&db, s->env, 0)) != 0) return ret;
    if (s->is_master) flags |= DB_CREATE;
    if ((ret = db->open(db, NULL, name, NULL, DB_BTREE, flags, 0644)) != 0) {
        db->close(db, 0);
        return ret;
    }
    *out = db;
    return 0;
}

int tt_create_all(tt_server *s, char *err, int errlen) {
    static const char *names[] = {"customers.db", "media.db", "volumes.db"};
    for (int i = 0; i < 3; i++) {
        DB *db;
        int ret = tt_db(s, names[i], &db);
        if (ret != 0) { tt_err(err, errlen, names[i], ret); return ret; }
        db->close(db, 0);
    }
    return 0;
}

int tt_put(tt_server *s, const char *name, const char *key, const char *val, char *err, int errlen) {
    DB *db;
    DBT k, v;
    int ret;
    if ((ret = tt_db(s, name, &db)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    memset(&k, 0, sizeof(k)); memset(&v, 0, sizeof(v));
    k.data = (void *)key; k.size = (u_int32_t)strlen(key);
    v.data = (void *)val; v.size = (u_int32_t)strlen(val);
    ret = db->put(db, NULL, &k, &v, DB_AUTO_COMMIT);
    if (ret != 0) tt_err(err, errlen, "DB->put", ret);
    db->close(db, 0);
    return ret;
}

/* Many puts in transactions of `batch` records; keys and values come as parallel arrays. */
int tt_put_many(tt_server *s, const char *name, const char **keys, const char **vals, int n, int batch, char *err, int errlen) {
    DB *db;
    int ret, i = 0;
    if ((ret = tt_db(s, name, &db)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    while (i < n) {
        DB_TXN *txn;
        if ((ret = s->env->txn_begin(s->env, NULL, &txn, 0)) != 0) break;
        for (int j = 0; j < batch && i < n; j++, i++) {
            DBT k, v;
            memset(&k, 0, sizeof(k)); memset(&v, 0, sizeof(v));
            k.data = (void *)keys[i]; k.size = (u_int32_t)strlen(keys[i]);
            v.data = (void *)vals[i]; v.size = (u_int32_t)strlen(vals[i]);
            if ((ret = db->put(db, txn, &k, &v, 0)) != 0) break;
        }
        if (ret != 0) { txn->abort(txn); break; }
        if ((ret = txn->commit(txn, 0)) != 0) break;
    }
    if (ret != 0) tt_err(err, errlen, "bulk put", ret);
    db->close(db, 0);
    return ret;
}

/* Value of `key` into buf (NUL-terminated, truncated to buflen-1). DB_NOTFOUND when absent. */
int tt_get(tt_server *s, const char *name, const char *key, char *buf, int buflen, char *err, int errlen) {
    DB *db;
    DBT k, v;
    int ret;
    if ((ret = tt_db(s, name, &db)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    memset(&k, 0, sizeof(k)); memset(&v, 0, sizeof(v));
    k.data = (void *)key; k.size = (u_int32_t)strlen(key);
    v.flags = DB_DBT_MALLOC;
    ret = db->get(db, NULL, &k, &v, 0);
    if (ret == 0) {
        int n = (int)v.size < buflen - 1 ? (int)v.size : buflen - 1;
        memcpy(buf, v.data, (size_t)n);
        buf[n] = '\0';
        free(v.data);
    } else if (ret != DB_NOTFOUND) {
        tt_err(err, errlen, "DB->get", ret);
    }
    db->close(db, 0);
    return ret;
}

int tt_notfound(void) { return DB_NOTFOUND; }

/* Record count and a FNV-1a 64 hash over (key length, key, value length, value) of every record
 * in key order: equal on master and replicant exactly when their contents are equal. */
int tt_checksum(tt_server *s, const char *name, uint64_t *hash, uint64_t *count, char *err, int errlen) {
    DB *db;
    DBC *c;
    DBT k, v;
    int ret;
    uint64_t h = 1469598103934665603ULL, n = 0;
    if ((ret = tt_db(s, name, &db)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    if ((ret = db->cursor(db, NULL, &c, 0)) != 0) { tt_err(err, errlen, "DB->cursor", ret); db->close(db, 0); return ret; }
    memset(&k, 0, sizeof(k)); memset(&v, 0, sizeof(v));
    while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
        const unsigned char *parts[2] = {k.data, v.data};
        u_int32_t sizes[2] = {k.size, v.size};
        for (int p = 0; p < 2; p++) {
            for (int b = 0; b < 4; b++) { h ^= (sizes[p] >> (8 * b)) & 0xff; h *= 1099511628211ULL; }
            for (u_int32_t i = 0; i < sizes[p]; i++) { h ^= parts[p][i]; h *= 1099511628211ULL; }
        }
        n++;
    }
    c->close(c);
    db->close(db, 0);
    if (ret != DB_NOTFOUND) { tt_err(err, errlen, "DBC->get", ret); return ret; }
    *hash = h;
    *count = n;
    return 0;
}

/* Closes the environment cleanly (stops the repmgr threads, flushes, releases the regions).
 *
 * During a client's internal init Berkeley DB locks the API out (REP_LOCKOUT_API) until the copy
 * ends. DB_ENV->close first stops the repmgr threads -- the only ones that could finish the copy
 * -- and then waits for that lockout in __env_rep_enter, forever, logging "BDB3505 DB_ENV handle
 * waiting N minutes for replication lockout to complete" every minute. With DB_REP_CONF_NOWAIT
 * that wait returns DB_REP_LOCKOUT at once and the close goes on: the unfinished copy is
 * abandoned (the next start begins a new internal init), and the server stops promptly;
 * close then returns DB_REP_LOCKOUT, which the caller reports as such. */
int tt_close(tt_server *s) {
    int ret;
    if (s->replicated)
        (void)s->env->rep_set_config(s->env, DB_REP_CONF_NOWAIT, 1);
    ret = s->env->close(s->env, 0);
    if (s->msgfile) fclose(s->msgfile);
    free(s);
    return ret;
}
