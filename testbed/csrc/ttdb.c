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

/* The volumes' scope index: a secondary database of volumes.db keyed "CUSTOMER/MEDIA", its
 * duplicates the volume keys in order, so that one scope is a range and all volumes in
 * customer/media/volume order are one cursor walk -- TapeTrack's own key order. Berkeley DB
 * maintains it in the same transaction as every write of volumes.db (DB->associate), on the
 * master; it reaches the replicant by replication like any database. */
#define TT_SCOPE_DB "volumes-by-scope.db"

/* The value of field `name=` among a volume's space-separated `name=value` words, as
 * (pointer, length); length 0 when absent. */
static void tt_field(const char *v, u_int32_t n, const char *name, const char **at, u_int32_t *len) {
    size_t nl = strlen(name);
    u_int32_t i = 0;
    *at = v; *len = 0;
    while (i < n) {
        u_int32_t start = i, end;
        while (i < n && v[i] != ' ') i++;
        end = i;
        if (end - start > nl && memcmp(v + start, name, nl) == 0 && v[start + nl] == '=') {
            *at = v + start + nl + 1;
            *len = end - start - (u_int32_t)nl - 1;
            return;
        }
        while (i < n && v[i] == ' ') i++;
    }
}

/* The secondary key of one volume: "CUSTOMER/MEDIA" from its customer= and media= fields; a
 * field that is absent is empty (a volume without either is in scope "/": indexed all the
 * same, so that no volume is left out of a walk). */
static int tt_scope_key(DB *sec, const DBT *pkey, const DBT *pdata, DBT *skey) {
    const char *c, *m;
    u_int32_t cl, ml;
    char *buf;
    (void)sec; (void)pkey;
    tt_field(pdata->data, pdata->size, "customer", &c, &cl);
    tt_field(pdata->data, pdata->size, "media", &m, &ml);
    if ((buf = malloc(cl + ml + 1)) == NULL) return ENOMEM;
    memcpy(buf, c, cl);
    buf[cl] = '/';
    memcpy(buf + cl + 1, m, ml);
    memset(skey, 0, sizeof(*skey));
    skey->data = buf;
    skey->size = cl + ml + 1;
    skey->flags = DB_DBT_APPMALLOC;
    return 0;
}

static int tt_open_one(tt_server *s, const char *name, int dup, int create, DB **out) {
    DB *db;
    int ret;
    u_int32_t flags = DB_THREAD | DB_AUTO_COMMIT;
    if ((ret = db_create(&db, s->env, 0)) != 0) return ret;
    if (dup) db->set_flags(db, DB_DUP | DB_DUPSORT);
    if (s->is_master && create) flags |= DB_CREATE;
    if ((ret = db->open(db, NULL, name, NULL, DB_BTREE, flags, 0644)) != 0) {
        db->close(db, 0);
        return ret;
    }
    *out = db;
    return 0;
}

/* An open database and, for volumes.db, its associated scope index. */
typedef struct tt_dbh {
    DB *db;
    DB *sec;
} tt_dbh;

/* Closes the index first: Berkeley DB wants secondaries closed before their primary. */
static void tt_dbh_close(tt_dbh *h) {
    if (h->sec) h->sec->close(h->sec, 0);
    h->db->close(h->db, 0);
}

/* Opens database `name`: created on a master, read-only on a client (it exists once replication
 * has sent it). A fresh handle per request: replication invalidates handles during an internal
 * init (DB_REP_HANDLE_DEAD), and opening a btree handle is cheap. volumes.db comes with its
 * scope index associated, so every write keeps the index. With `build_index` (tt_create_all,
 * once at a master's start), a master whose home has no index yet makes it and fills it from
 * volumes.db (DB_CREATE on associate); never on every request. Without an index (a replicant
 * of such a master), volumes.db is read without it (`h->sec` NULL). */
static int tt_db_index(tt_server *s, const char *name, tt_dbh *h, int build_index) {
    int ret, made = 0;
    h->sec = NULL;
    if ((ret = tt_open_one(s, name, 0, 1, &h->db)) != 0) return ret;
    if (strcmp(name, "volumes.db") != 0) return 0;
    ret = tt_open_one(s, TT_SCOPE_DB, 1, 0, &h->sec);
    if (ret == ENOENT && build_index && s->is_master) {
        /* Made here, and filled from volumes.db by associate: only when it did not exist, for
         * associate with DB_CREATE writes to the log even when the index is already full. */
        made = 1;
        ret = tt_open_one(s, TT_SCOPE_DB, 1, 1, &h->sec);
    }
    if (ret != 0) {
        h->sec = NULL;
        if (ret == ENOENT) return 0;
        h->db->close(h->db, 0);
        return ret;
    }
    if ((ret = h->db->associate(h->db, NULL, h->sec, tt_scope_key, made ? DB_CREATE : 0)) != 0) {
        tt_dbh_close(h);
        return ret;
    }
    return 0;
}

static int tt_db(tt_server *s, const char *name, tt_dbh *h) {
    return tt_db_index(s, name, h, 0);
}

int tt_create_all(tt_server *s, char *err, int errlen) {
    static const char *names[] = {"customers.db", "media.db", "volumes.db"};
    for (int i = 0; i < 3; i++) {
        tt_dbh dh;
        /* Only here may the index be built (a master whose volumes.db predates it). */
        int ret = tt_db_index(s, names[i], &dh, 1);
        if (ret != 0) { tt_err(err, errlen, names[i], ret); return ret; }
        tt_dbh_close(&dh);
    }
    return 0;
}

int tt_put(tt_server *s, const char *name, const char *key, const char *val, char *err, int errlen) {
    tt_dbh dh;
    DB *db;
    DBT k, v;
    int ret;
    if ((ret = tt_db(s, name, &dh)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    db = dh.db;
    memset(&k, 0, sizeof(k)); memset(&v, 0, sizeof(v));
    k.data = (void *)key; k.size = (u_int32_t)strlen(key);
    v.data = (void *)val; v.size = (u_int32_t)strlen(val);
    ret = db->put(db, NULL, &k, &v, DB_AUTO_COMMIT);
    if (ret != 0) tt_err(err, errlen, "DB->put", ret);
    tt_dbh_close(&dh);
    return ret;
}

/* Many puts in transactions of `batch` records; keys and values come as parallel arrays. */
int tt_put_many(tt_server *s, const char *name, const char **keys, const char **vals, int n, int batch, char *err, int errlen) {
    tt_dbh dh;
    DB *db;
    int ret, i = 0;
    if ((ret = tt_db(s, name, &dh)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    db = dh.db;
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
    tt_dbh_close(&dh);
    return ret;
}

/* Value of `key` into buf (NUL-terminated, truncated to buflen-1). DB_NOTFOUND when absent. */
int tt_get(tt_server *s, const char *name, const char *key, char *buf, int buflen, char *err, int errlen) {
    tt_dbh dh;
    DB *db;
    DBT k, v;
    int ret;
    if ((ret = tt_db(s, name, &dh)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    db = dh.db;
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
    tt_dbh_close(&dh);
    return ret;
}

int tt_notfound(void) { return DB_NOTFOUND; }

/* Removes `key` (its scope index entry goes with it). DB_NOTFOUND when absent. */
int tt_del(tt_server *s, const char *name, const char *key, char *err, int errlen) {
    tt_dbh dh;
    DBT k;
    int ret;
    if ((ret = tt_db(s, name, &dh)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    memset(&k, 0, sizeof(k));
    k.data = (void *)key; k.size = (u_int32_t)strlen(key);
    ret = dh.db->del(dh.db, NULL, &k, DB_AUTO_COMMIT);
    if (ret != 0 && ret != DB_NOTFOUND) tt_err(err, errlen, "DB->del", ret);
    tt_dbh_close(&dh);
    return ret;
}

/* One record of a scope walk, handed to the caller: scope, volume key, value. */
typedef void (*tt_emit)(void *ctx, const char *scope, u_int32_t sl, const char *key, u_int32_t kl,
                        const char *val, u_int32_t vl);

/* Walks the scope index in customer/media/volume order, at most `max` volumes per call, and
 * hands each to `emit`. The walk starts at scope `from` (with `after`, just after that volume
 * of it: where the previous call stopped) and keeps to scopes starting with `prefix` (all of
 * them exactly `prefix` when `exact`). `*more` says whether a next call has anything to read.
 * One call holds its cursor (and the page locks it takes) only while it reads into the
 * caller's memory -- never while a client is slow to read an answer. With `nodup`, only the
 * first volume of each scope (a walk over the scopes). */
int tt_scan(tt_server *s, const char *from, int fl, const char *after, int al, const char *prefix,
            int pl, int exact, int nodup, int max, tt_emit emit, void *ctx, int *more, char *err, int errlen) {
    tt_dbh dh;
    DBC *c;
    DBT sk, pk, v;
    int ret, n = 0;
    char *next = NULL;
    *more = 0;
    if ((ret = tt_db(s, "volumes.db", &dh)) != 0) { tt_err(err, errlen, "volumes.db", ret); return ret; }
    if (dh.sec == NULL) {
        tt_dbh_close(&dh);
        snprintf(err, (size_t)errlen, "%s: this server's volumes have no scope index yet (its master predates it): start the master once with this ttfs-sim", TT_SCOPE_DB);
        return ENOENT;
    }
    if ((ret = dh.sec->cursor(dh.sec, NULL, &c, 0)) != 0) { tt_err(err, errlen, "DB->cursor", ret); tt_dbh_close(&dh); return ret; }
    memset(&sk, 0, sizeof(sk)); memset(&pk, 0, sizeof(pk)); memset(&v, 0, sizeof(v));
    sk.data = (void *)from; sk.size = (u_int32_t)fl;
    if (al > 0) {
        pk.data = (void *)after; pk.size = (u_int32_t)al;
        ret = c->pget(c, &sk, &pk, &v, DB_GET_BOTH_RANGE);
        if (ret == 0 && pk.size == (u_int32_t)al && memcmp(pk.data, after, (size_t)al) == 0)
            ret = c->pget(c, &sk, &pk, &v, DB_NEXT);
        else if (ret == DB_NOTFOUND) {
            /* That scope has nothing after `after`: the first scope after it. A key followed
             * by a NUL byte is the smallest key greater than it. */
            if ((next = malloc((size_t)fl + 1)) == NULL) { ret = ENOMEM; goto done; }
            memcpy(next, from, (size_t)fl);
            next[fl] = '\0';
            memset(&sk, 0, sizeof(sk)); memset(&pk, 0, sizeof(pk));
            sk.data = next; sk.size = (u_int32_t)fl + 1;
            ret = c->pget(c, &sk, &pk, &v, DB_SET_RANGE);
        }
    } else {
        ret = c->pget(c, &sk, &pk, &v, DB_SET_RANGE);
    }
    while (ret == 0) {
        if (sk.size < (u_int32_t)pl || memcmp(sk.data, prefix, (size_t)pl) != 0) break;
        if (exact && sk.size != (u_int32_t)pl) break;
        if (n == max) { *more = 1; break; }
        emit(ctx, sk.data, sk.size, pk.data, pk.size, v.data, v.size);
        n++;
        ret = c->pget(c, &sk, &pk, &v, nodup ? DB_NEXT_NODUP : DB_NEXT);
    }
done:
    c->close(c);
    tt_dbh_close(&dh);
    free(next);
    if (ret == DB_NOTFOUND) ret = 0;
    if (ret != 0) tt_err(err, errlen, "scope walk", ret);
    return ret;
}

/* Record count and a FNV-1a 64 hash over (key length, key, value length, value) of every record
 * in key order: equal on master and replicant exactly when their contents are equal. */
int tt_checksum(tt_server *s, const char *name, uint64_t *hash, uint64_t *count, char *err, int errlen) {
    tt_dbh dh;
    DB *db;
    DBC *c;
    DBT k, v;
    int ret;
    uint64_t h = 1469598103934665603ULL, n = 0;
    if ((ret = tt_db(s, name, &dh)) != 0) { tt_err(err, errlen, name, ret); return ret; }
    db = dh.db;
    if ((ret = db->cursor(db, NULL, &c, 0)) != 0) { tt_err(err, errlen, "DB->cursor", ret); tt_dbh_close(&dh); return ret; }
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
    tt_dbh_close(&dh);
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
