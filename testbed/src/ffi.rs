//! Safe wrappers over the C shim (`csrc/ttdb.c`).

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;

#[repr(C)]
struct RawServer {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn tt_open(
        home: *const c_char,
        msg: *const c_char,
        replicated: c_int,
        out: *mut *mut RawServer,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    fn tt_start_repmgr(s: *mut RawServer, err: *mut c_char, errlen: c_int) -> c_int;
    fn tt_priority(s: *mut RawServer) -> c_int;
    fn tt_startup_done(s: *mut RawServer) -> c_int;
    fn tt_is_master(s: *mut RawServer) -> c_int;
    fn tt_rep_unavail() -> c_int;
    fn tt_rep_lockout() -> c_int;
    fn tt_notfound() -> c_int;
    fn tt_create_all(s: *mut RawServer, err: *mut c_char, errlen: c_int) -> c_int;
    fn tt_put(
        s: *mut RawServer,
        name: *const c_char,
        key: *const c_char,
        val: *const c_char,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    fn tt_put_many(
        s: *mut RawServer,
        name: *const c_char,
        keys: *const *const c_char,
        vals: *const *const c_char,
        n: c_int,
        batch: c_int,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    fn tt_get(
        s: *mut RawServer,
        name: *const c_char,
        key: *const c_char,
        buf: *mut c_char,
        buflen: c_int,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    fn tt_checksum(
        s: *mut RawServer,
        name: *const c_char,
        hash: *mut u64,
        count: *mut u64,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    fn tt_close(s: *mut RawServer) -> c_int;
    fn tt_del(
        s: *mut RawServer,
        name: *const c_char,
        key: *const c_char,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn tt_scan(
        s: *mut RawServer,
        from: *const c_char,
        fl: c_int,
        after: *const c_char,
        al: c_int,
        prefix: *const c_char,
        pl: c_int,
        exact: c_int,
        nodup: c_int,
        max: c_int,
        emit: EmitFn,
        ctx: *mut std::ffi::c_void,
        more: *mut c_int,
        err: *mut c_char,
        errlen: c_int,
    ) -> c_int;
}

type EmitFn = extern "C" fn(
    ctx: *mut std::ffi::c_void,
    scope: *const c_char,
    sl: u32,
    key: *const c_char,
    kl: u32,
    val: *const c_char,
    vl: u32,
);

/// One volume of a scope walk: its scope (`CUSTOMER/MEDIA`), key and value, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedVolume {
    /// `CUSTOMER/MEDIA` (from the value's `customer=` and `media=`; empty when absent).
    pub scope: Vec<u8>,
    /// The volume's key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// Where a walk goes on: the scope and volume it stopped after.
#[derive(Debug, Clone, Default)]
pub struct WalkFrom {
    /// The scope to start at (or to go on in).
    pub scope: Vec<u8>,
    /// The volume of `scope` it stopped after; empty at the start.
    pub after: Vec<u8>,
}

extern "C" fn collect(
    ctx: *mut std::ffi::c_void,
    scope: *const c_char,
    sl: u32,
    key: *const c_char,
    kl: u32,
    val: *const c_char,
    vl: u32,
) {
    // SAFETY: ctx is the Vec tt_scan was given below; the pointers are Berkeley DB's buffers,
    // valid for the lengths given during this call.
    let out = unsafe { &mut *(ctx as *mut Vec<ScopedVolume>) };
    let bytes = |p: *const c_char, n: u32| unsafe {
        std::slice::from_raw_parts(p as *const u8, n as usize).to_vec()
    };
    out.push(ScopedVolume {
        scope: bytes(scope, sl),
        key: bytes(key, kl),
        value: bytes(val, vl),
    });
}

/// A Berkeley DB error: the library's code and message.
#[derive(Debug)]
pub struct DbError {
    /// Berkeley DB's return code.
    pub code: i32,
    /// `what: db_strerror(code)`.
    pub message: String,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for DbError {}

struct ErrBuf([c_char; 512]);

impl ErrBuf {
    fn new() -> ErrBuf {
        ErrBuf([0; 512])
    }
    fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }
    fn check(&self, code: c_int) -> Result<(), DbError> {
        if code == 0 {
            return Ok(());
        }
        let message = unsafe { CStr::from_ptr(self.0.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Err(DbError { code, message })
    }
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in names and keys")
}

/// An open Berkeley DB environment of the stand-in server. Thread-safe (DB_THREAD).
pub struct Server(*mut RawServer);

// The environment is opened with DB_THREAD; every call uses its own DB handle.
unsafe impl Send for Server {}
unsafe impl Sync for Server {}

/// DB_REP_UNAVAIL: a brand-new client could not reach its master.
pub fn rep_unavail() -> i32 {
    unsafe { tt_rep_unavail() }
}

/// `DB_REP_LOCKOUT`: what closing returns when it did not wait for an unfinished internal init.
pub fn rep_lockout() -> i32 {
    unsafe { tt_rep_lockout() }
}

impl Server {
    /// Opens `home` (recovery, regions, DB_CONFIG read by the library); messages to `msgfile`.
    pub fn open(home: &str, msgfile: &str, replicated: bool) -> Result<Server, DbError> {
        let mut e = ErrBuf::new();
        let mut out = ptr::null_mut();
        let rc = unsafe {
            tt_open(
                c(home).as_ptr(),
                c(msgfile).as_ptr(),
                replicated as c_int,
                &mut out,
                e.ptr(),
                512,
            )
        };
        e.check(rc)?;
        Ok(Server(out))
    }

    /// Starts the Replication Manager.
    pub fn start_repmgr(&self) -> Result<(), DbError> {
        let mut e = ErrBuf::new();
        let rc = unsafe { tt_start_repmgr(self.0, e.ptr(), 512) };
        e.check(rc)
    }

    /// The replication priority DB_CONFIG set.
    pub fn priority(&self) -> i32 {
        unsafe { tt_priority(self.0) }
    }

    /// The library reported start-up done (or this is a master / standalone).
    pub fn startup_done(&self) -> bool {
        unsafe { tt_startup_done(self.0) != 0 }
    }

    /// This site is master (or standalone).
    pub fn is_master(&self) -> bool {
        unsafe { tt_is_master(self.0) != 0 }
    }

    /// Creates the three databases (master or standalone only).
    pub fn create_all(&self) -> Result<(), DbError> {
        let mut e = ErrBuf::new();
        let rc = unsafe { tt_create_all(self.0, e.ptr(), 512) };
        e.check(rc)
    }

    /// Stores one record in its own transaction.
    pub fn put(&self, db: &str, key: &str, val: &str) -> Result<(), DbError> {
        let mut e = ErrBuf::new();
        let rc = unsafe {
            tt_put(
                self.0,
                c(db).as_ptr(),
                c(key).as_ptr(),
                c(val).as_ptr(),
                e.ptr(),
                512,
            )
        };
        e.check(rc)
    }

    /// Stores many records, `batch` per transaction.
    pub fn put_many(
        &self,
        db: &str,
        records: &[(String, String)],
        batch: usize,
    ) -> Result<(), DbError> {
        let keys: Vec<CString> = records.iter().map(|(k, _)| c(k)).collect();
        let vals: Vec<CString> = records.iter().map(|(_, v)| c(v)).collect();
        let kp: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
        let vp: Vec<*const c_char> = vals.iter().map(|v| v.as_ptr()).collect();
        let mut e = ErrBuf::new();
        let rc = unsafe {
            tt_put_many(
                self.0,
                c(db).as_ptr(),
                kp.as_ptr(),
                vp.as_ptr(),
                kp.len() as c_int,
                batch as c_int,
                e.ptr(),
                512,
            )
        };
        e.check(rc)
    }

    /// One record's value, `None` when absent.
    pub fn get(&self, db: &str, key: &str) -> Result<Option<String>, DbError> {
        let mut e = ErrBuf::new();
        let mut buf = vec![0 as c_char; 4096];
        let rc = unsafe {
            tt_get(
                self.0,
                c(db).as_ptr(),
                c(key).as_ptr(),
                buf.as_mut_ptr(),
                4096,
                e.ptr(),
                512,
            )
        };
        if rc == unsafe { tt_notfound() } {
            return Ok(None);
        }
        e.check(rc)?;
        Ok(Some(
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        ))
    }

    /// (FNV-1a 64 over every record in key order, record count).
    pub fn checksum(&self, db: &str) -> Result<(u64, u64), DbError> {
        let mut e = ErrBuf::new();
        let (mut h, mut n) = (0u64, 0u64);
        let rc = unsafe { tt_checksum(self.0, c(db).as_ptr(), &mut h, &mut n, e.ptr(), 512) };
        e.check(rc)?;
        Ok((h, n))
    }

    /// Removes one record; `Ok(false)` when it was not there.
    pub fn del(&self, db: &str, key: &str) -> Result<bool, DbError> {
        let mut e = ErrBuf::new();
        let rc = unsafe { tt_del(self.0, c(db).as_ptr(), c(key).as_ptr(), e.ptr(), 512) };
        if rc == unsafe { tt_notfound() } {
            return Ok(false);
        }
        e.check(rc)?;
        Ok(true)
    }

    /// Up to `max` volumes in customer/media/volume order from `from`, of the scopes that start
    /// with `prefix` (exactly `prefix` when `exact`), and whether more follow. With
    /// `first_only`, only the first volume of each scope.
    pub fn scan(
        &self,
        from: &WalkFrom,
        prefix: &[u8],
        exact: bool,
        first_only: bool,
        max: usize,
    ) -> Result<(Vec<ScopedVolume>, bool), DbError> {
        let mut e = ErrBuf::new();
        let mut out: Vec<ScopedVolume> = Vec::with_capacity(max.min(4096));
        let mut more: c_int = 0;
        let rc = unsafe {
            tt_scan(
                self.0,
                from.scope.as_ptr() as *const c_char,
                from.scope.len() as c_int,
                from.after.as_ptr() as *const c_char,
                from.after.len() as c_int,
                prefix.as_ptr() as *const c_char,
                prefix.len() as c_int,
                exact as c_int,
                first_only as c_int,
                max.min(c_int::MAX as usize) as c_int,
                collect,
                &mut out as *mut Vec<ScopedVolume> as *mut std::ffi::c_void,
                &mut more,
                e.ptr(),
                512,
            )
        };
        e.check(rc)?;
        Ok((out, more != 0))
    }

    /// Closes the environment cleanly; in an unfinished internal init it does not wait for the
    /// copy (which no thread would finish any more) and returns [`rep_lockout`].
    pub fn close(self) -> i32 {
        unsafe { tt_close(self.0) }
    }
}
