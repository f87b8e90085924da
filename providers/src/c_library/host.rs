//! The provider's host processes: one fork server per prepared provider, and one forked child
//! per run, reached over a Unix-domain socket (`providers/c/host/PROTOCOL.md`).
//!
//! This is where P4's containment meets real processes: a child that dies during a call is
//! seen here as end-of-file, and [`ForkServer::status`] tells how it ended (an exit status or a
//! signal, as text with no pid or address in it, since it reaches the trace); a child that does
//! not answer within the call deadline is killed. Nothing here panics: failures are values, and
//! the provider adapter decides what they mean.
//!
//! What keeps many runs apart and leaves nothing behind:
//! - the listening socket is in Linux's abstract namespace (elsewhere a file in a private
//!   directory), so an nspsim killed by a signal leaves no file; the fork server exits when its
//!   stdin closes and its children die with it;
//! - every connection starts with its fork's sequence number and a per-server token, so a fork
//!   that failed after connecting, or a stranger's connection, is skipped, never taken for the
//!   next run's child; children are named by that number, never by a pid the system may reuse;
//! - the control channel is held for one short request at a time: how a child ended is polled,
//!   so one child's slow exit never stalls the other exploration workers' forks.

use super::protocol::{self, MAX_FRAME, Request};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
#[cfg(not(target_os = "linux"))]
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(not(target_os = "linux"))]
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fork server is asked to load, and how the children start.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// The compiled host executable.
    pub exe: PathBuf,
    /// The provider library (already resolved).
    pub library: PathBuf,
    /// `true`: `symbol` is `int entry(int, char **)`; `false`: an `NSPV2_ROUTINE`.
    pub is_entry: bool,
    pub symbol: String,
    /// The scenario's provider id in C layout, if known.
    pub id: Option<[u8; 16]>,
    /// `argv[0]` of `entry`.
    pub name: String,
    pub args: Vec<String>,
    /// How long loading the library (its constructors) may take.
    pub load_deadline: Duration,
    /// The host is the AddressSanitizer build: it runs with [`ASAN_OPTIONS`], and an exit with
    /// [`ASAN_EXIT_CODE`] is described as a sanitizer report.
    pub address_sanitizer: bool,
    /// Live mode: the children run a provider's work items on real threads of their own
    /// (`NSPSIM_HOST_LIVE=1`, PROTOCOL.md "Live mode") instead of recording them for nspsim's
    /// scheduler.
    pub live: bool,
    /// Test only: the Nth fork of the server fails after its connection was made (the host's
    /// `NSPSIM_HOST_TEST_FAIL_FORK`), to check that nspsim skips that connection.
    #[doc(hidden)]
    pub fail_fork_at: Option<u32>,
}

/// The exit status the AddressSanitizer host is told to use for a report (ASan's default, 1,
/// is what any `exit(1)` gives). A provider that calls `exit(86)` under the sanitizer host is
/// described as a report too: the price of not parsing the sanitizer's output.
pub const ASAN_EXIT_CODE: i32 = 86;

/// nspsim's options for the AddressSanitizer host, before any `ASAN_OPTIONS` of the user's
/// (later options win, so a user can override each): a report exits with [`ASAN_EXIT_CODE`];
/// no leak report at exit, since a run's host ends with `_exit` (leaks are never checked
/// there) and the fork server's own buffers live until it exits.
fn asan_options(user: Option<&str>) -> String {
    let ours = format!("exitcode={ASAN_EXIT_CODE}:detect_leaks=0");
    match user {
        Some(user) if !user.trim().is_empty() => format!("{ours}:{user}"),
        _ => ours,
    }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    /// Killed by the fork server because it had not ended in time after its socket closed.
    Killed,
    /// The fork server could not tell (it is gone itself, or never knew the child).
    Unknown,
    /// An AddressSanitizer report ended it (the sanitizer host's [`ASAN_EXIT_CODE`]).
    SanitizerReport,
}

impl Ended {
    /// `host exited with status 3`, `host killed by SIGSEGV`, `host aborted (SIGABRT)`,
    /// `AddressSanitizer report` (its text is on stderr).
    pub fn describe(self) -> String {
        match self {
            Ended::SanitizerReport => "AddressSanitizer report".to_string(),
            Ended::Exited(n) => format!("host exited with status {n}"),
            Ended::Signaled(s) if s == SIGABRT => "host aborted (SIGABRT)".to_string(),
            Ended::Signaled(s) => match signal_name(s) {
                Some(name) => format!("host killed by {name}"),
                None => format!("host killed by signal {s}"),
            },
            Ended::Killed => "host closed its connection and was killed".to_string(),
            Ended::Unknown => "host ended (how is unknown: its fork server is gone)".to_string(),
        }
    }
}

const SIGABRT: i32 = 6; // the same number on Linux and macOS

/// Signal names by number. The common ones are the same on Linux and macOS; BUS and SYS
/// differ, hence the two tables.
fn signal_name(s: i32) -> Option<&'static str> {
    #[cfg(target_os = "macos")]
    const PLATFORM: [(i32, &str); 3] = [(10, "SIGBUS"), (12, "SIGSYS"), (30, "SIGUSR1")];
    #[cfg(not(target_os = "macos"))]
    const PLATFORM: [(i32, &str); 3] = [(7, "SIGBUS"), (31, "SIGSYS"), (10, "SIGUSR1")];
    const COMMON: [(i32, &str); 10] = [
        (1, "SIGHUP"),
        (2, "SIGINT"),
        (3, "SIGQUIT"),
        (4, "SIGILL"),
        (5, "SIGTRAP"),
        (8, "SIGFPE"),
        (9, "SIGKILL"),
        (11, "SIGSEGV"),
        (13, "SIGPIPE"),
        (15, "SIGTERM"),
    ];
    COMMON
        .iter()
        .chain(PLATFORM.iter())
        .find(|(n, _)| *n == s)
        .map(|(_, name)| *name)
}

/// Reads the host's first frame (did the library load?) within `deadline`, on a helper
/// thread, since a pipe has no read timeout: loading runs the library's constructors, which
/// are provider code and may hang. `Ok((stdout, None))`: the host closed its pipe (it died).
fn greeting(
    child: &mut Child,
    mut stdout: ChildStdout,
    deadline: Duration,
) -> Result<(ChildStdout, Option<Vec<u8>>), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut frame = || -> std::io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            stdout.read_exact(&mut len)?;
            let n = u32::from_le_bytes(len).min(MAX_FRAME);
            let mut body = vec![0; n as usize];
            stdout.read_exact(&mut body)?;
            Ok(body)
        };
        let got = frame().ok();
        let _ = tx.send(());
        (stdout, got)
    });
    let timed_out = rx.recv_timeout(deadline).is_err();
    if timed_out {
        // Killing the host ends the reader's read with end-of-file.
        let _ = child.kill();
    }
    let joined = reader.join();
    if timed_out {
        let _ = child.wait();
        return Err(format!(
            "loading the library did not finish within {} ms (call_deadline_ms): a constructor that does not return?",
            deadline.as_millis()
        ));
    }
    joined.map_err(|_| "the host's reader thread failed".to_string())
}

/// How long nspsim waits for a child whose socket closed to finish exiting before it has the
/// fork server kill it (a child normally exits at once; a status request comes after
/// end-of-file). nspsim polls, holding the control channel for one short request at a time.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a fork server whose pipe broke may take to be seen exited ([`ForkServer::gone`]).
const GONE_GRACE: Duration = Duration::from_millis(500);

/// How long [`ForkServer::fork`] waits for the connection of the child it was told about (it is
/// queued before the reply, so this is only reached when something else is wrong).
const ACCEPT_DEADLINE: Duration = Duration::from_secs(10);

/// The fork server: the host process that loaded the library once and forks a child per run.
/// Dropping it closes its stdin; it then kills the children left and exits, and is reaped.
pub struct ForkServer {
    control: Mutex<Control>,
    /// Accepts under the `control` lock only, so connections are taken in `F` order.
    listener: UnixListener,
    /// Every connection starts with this token (and its fork's sequence number): another
    /// process that connects to the socket is not taken for a host.
    token: u64,
    address_sanitizer: bool,
    live: bool,
    /// The directory holding the socket file, where there is one (not on Linux).
    #[cfg(not(target_os = "linux"))]
    dir: PathBuf,
}

struct Control {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    out: Vec<u8>,
    body: Vec<u8>,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// 64 random bits from the standard library's per-process random hash keys.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(UNIQUE.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// Linux: a listener in the abstract namespace, which has no file, so nothing is left behind
/// when nspsim dies by a signal (no `Drop` runs then). Its name is what the host connects to,
/// with a leading `@`.
#[cfg(target_os = "linux")]
fn listen() -> Result<(UnixListener, String), String> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let mut last = String::new();
    for _ in 0..100 {
        let name = format!("nspsim-host-{}-{:016x}", std::process::id(), random_u64());
        let addr = SocketAddr::from_abstract_name(name.as_bytes())
            .map_err(|e| format!("cannot name a socket {name}: {e}"))?;
        match UnixListener::bind_addr(&addr) {
            Ok(l) => return Ok((l, format!("@{name}"))),
            Err(e) if e.kind() == ErrorKind::AddrInUse => last = e.to_string(),
            Err(e) => return Err(format!("cannot listen on @{name}: {e}")),
        }
    }
    Err(format!("cannot listen on an abstract socket: {last}"))
}

/// Elsewhere (macOS has no abstract namespace): a socket file in a private (0700) directory,
/// removed when the server is dropped. An nspsim killed by a signal leaves that directory in
/// the temporary directory.
#[cfg(not(target_os = "linux"))]
fn listen() -> Result<(UnixListener, String, PathBuf), String> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("nspsim-host-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let socket = dir.join("s");
                return match UnixListener::bind(&socket) {
                    Ok(l) => Ok((l, socket.display().to_string(), dir)),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&dir);
                        Err(format!("cannot listen on {}: {e}", socket.display()))
                    }
                };
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot create a private directory in {}",
        base.display()
    ))
}

impl Control {
    fn send(&mut self, body: &[u8]) -> Result<(), String> {
        self.out.clear();
        let n = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&n.to_le_bytes());
        self.out.extend_from_slice(body);
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the fork server's pipe is closed")?;
        stdin
            .write_all(&self.out)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("the fork server is gone ({e})"))
    }

    fn recv(&mut self) -> Result<&[u8], String> {
        let mut len = [0u8; 4];
        self.stdout
            .read_exact(&mut len)
            .map_err(|e| format!("the fork server is gone ({e})"))?;
        let n = u32::from_le_bytes(len);
        if n > MAX_FRAME {
            return Err(format!("the fork server sent a frame of {n} bytes"));
        }
        self.body.resize(n as usize, 0);
        self.stdout
            .read_exact(&mut self.body)
            .map_err(|e| format!("the fork server is gone ({e})"))?;
        Ok(&self.body)
    }

    /// How the server itself ended, after it closed its pipe.
    fn server_exit(&mut self) -> String {
        match self.child.wait() {
            Ok(s) => format!("the host process ended ({s})"),
            Err(e) => format!("the host process is gone ({e})"),
        }
    }
}

impl ForkServer {
    /// Starts the fork server and waits until it has loaded the library; `Err` is the
    /// loader's message (dlerror's text, or which symbol is missing).
    pub fn spawn(spec: &HostSpec) -> Result<Arc<ForkServer>, String> {
        #[cfg(target_os = "linux")]
        let (listener, socket) = listen()?;
        #[cfg(not(target_os = "linux"))]
        let (listener, socket, dir) = listen()?;
        // Removes the socket's directory if the server never comes up (a no-op on Linux).
        let cleanup = || {
            #[cfg(not(target_os = "linux"))]
            let _ = std::fs::remove_dir_all(&dir);
        };
        // Accepting never blocks: `fork` polls with a deadline.
        if let Err(e) = listener.set_nonblocking(true) {
            cleanup();
            return Err(format!("cannot configure the listening socket: {e}"));
        }
        let token = random_u64();
        let mut cmd = Command::new(&spec.exe);
        cmd.arg(&socket)
            .arg(&spec.library)
            .arg(if spec.is_entry { "entry" } else { "routines" })
            .arg(&spec.symbol)
            .arg(
                spec.id
                    .map_or_else(|| "-".to_string(), |id| protocol::hex(&id)),
            )
            .arg(&spec.name)
            .args(&spec.args)
            .env("NSPSIM_HOST_TOKEN", format!("{token:016x}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A provider's diagnostics go to the terminal, as a host's console would show them.
            .stderr(Stdio::inherit());
        if spec.address_sanitizer {
            let user = std::env::var("ASAN_OPTIONS").ok();
            cmd.env("ASAN_OPTIONS", asan_options(user.as_deref()));
        }
        if spec.live {
            cmd.env("NSPSIM_HOST_LIVE", "1");
        }
        if let Some(n) = spec.fail_fork_at {
            cmd.env("NSPSIM_HOST_TEST_FAIL_FORK", n.to_string());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                cleanup();
                return Err(format!(
                    "cannot start the provider host {}: {e}",
                    spec.exe.display()
                ));
            }
        };
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            cleanup();
            return Err("the provider host has no pipes".into());
        };
        let (stdout, greeting) = match greeting(&mut child, stdout, spec.load_deadline) {
            Ok(g) => g,
            Err(e) => {
                cleanup();
                return Err(e);
            }
        };
        let server = ForkServer {
            control: Mutex::new(Control {
                child,
                stdin: Some(stdin),
                stdout,
                out: Vec::new(),
                body: Vec::new(),
            }),
            listener,
            token,
            address_sanitizer: spec.address_sanitizer,
            live: spec.live,
            #[cfg(not(target_os = "linux"))]
            dir,
        };
        let ready = match greeting {
            Some(body) => match body.split_first() {
                Some((0, _)) => Ok(()),
                Some((_, text)) => Err(String::from_utf8_lossy(text).into_owned()),
                None => Err("the host sent an empty greeting".into()),
            },
            None => Err(server.lock().server_exit()),
        };
        // On an error, dropping `server` closes the pipe and reaps the host.
        ready.map(|()| Arc::new(server))
    }

    /// Whether its children run work items on real threads ([`HostSpec::live`]).
    pub fn live(&self) -> bool {
        self.live
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forks a run's host process and returns its pid (diagnostics only), its fork's sequence
    /// number (what status requests name) and its connection. Fork and accept happen under one
    /// lock, so concurrent callers each get their own child's connection.
    pub fn fork(&self) -> Result<(u32, u32, UnixStream), String> {
        let mut c = self.lock();
        c.send(b"F")?;
        let (pid, seq) = match c.recv()?.split_first() {
            Some((0, rest)) if rest.len() == 8 => (
                u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]),
                u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]),
            ),
            Some((_, text)) => return Err(String::from_utf8_lossy(text).into_owned()),
            None => return Err("the host sent an empty reply to fork".into()),
        };
        // The server connected before it forked: the connection is already queued, behind any
        // of a fork that failed after connecting (an earlier sequence number, skipped).
        let start = Instant::now();
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    if start.elapsed() >= ACCEPT_DEADLINE {
                        return Err(format!(
                            "the host's connection for fork {seq} did not arrive within {} s",
                            ACCEPT_DEADLINE.as_secs()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(e) => return Err(format!("cannot accept the host's connection: {e}")),
            };
            match self.identify(&stream) {
                Some(got) if got == seq => return Ok((pid, seq, stream)),
                // A connection whose fork failed (its child never existed), or one that is not
                // the server's: dropped.
                Some(got) if got < seq => continue,
                None => continue,
                Some(got) => {
                    return Err(format!(
                        "the host's connection for fork {seq} was preceded by fork {got}'s"
                    ));
                }
            }
        }
    }

    /// Reads a connection's first frame (`'I', u32 seq, u64 token`) and returns its sequence
    /// number, or `None` for a connection that is not one of this server's.
    fn identify(&self, stream: &UnixStream) -> Option<u32> {
        // The frame was written before the connection was queued; waiting is only for a
        // stranger that connected and says nothing.
        stream.set_nonblocking(false).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        let mut frame = [0u8; 17];
        let mut reader = stream;
        reader.read_exact(&mut frame).ok()?;
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let seq = u32::from_le_bytes([frame[5], frame[6], frame[7], frame[8]]);
        let mut token = [0u8; 8];
        token.copy_from_slice(&frame[9..17]);
        (len == 13 && frame[4] == b'I' && u64::from_le_bytes(token) == self.token).then_some(seq)
    }

    /// One status request (`S` or `K`); the lock is held for that request only.
    fn ask(&self, cmd: u8, seq: u32) -> Option<Ended> {
        let mut c = self.lock();
        let mut req = [0u8; 5];
        req[0] = cmd;
        req[1..5].copy_from_slice(&seq.to_le_bytes());
        if c.send(&req).is_err() {
            return Some(Ended::Unknown);
        }
        let ended = match c.recv() {
            Ok([0, how, a, b, cc, d]) => {
                let n = i32::from_le_bytes([*a, *b, *cc, *d]);
                match how {
                    0 if self.address_sanitizer && n == ASAN_EXIT_CODE => Ended::SanitizerReport,
                    0 => Ended::Exited(n),
                    1 => Ended::Signaled(n),
                    2 => Ended::Killed,
                    4 => return None,
                    _ => Ended::Unknown,
                }
            }
            _ => Ended::Unknown,
        };
        Some(ended)
    }

    /// How the child of fork `seq` ended (after its socket reached end-of-file): polled, so
    /// other runs' forks and releases go on meanwhile; after [`EXIT_GRACE`] it is killed.
    pub fn status(&self, seq: u32) -> Ended {
        let start = Instant::now();
        loop {
            if let Some(ended) = self.ask(b'S', seq) {
                return ended;
            }
            if start.elapsed() >= EXIT_GRACE {
                return self.kill(seq);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills the child of fork `seq` (a missed deadline) and reaps it.
    pub fn kill(&self, seq: u32) -> Ended {
        self.ask(b'K', seq).unwrap_or(Ended::Unknown)
    }

    /// Whether the fork server process itself has exited: only then is a child's unknown end
    /// nobody's finding. It may still be exiting when its pipe breaks, hence a short wait; a
    /// server that is alive but cannot tell (it never knew the child) is not gone.
    pub fn gone(&self) -> bool {
        let start = Instant::now();
        loop {
            match self.lock().child.try_wait() {
                Ok(Some(_)) => return true,
                Ok(None) if start.elapsed() < GONE_GRACE => {}
                Ok(None) | Err(_) => return false,
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// nspsim is done with the child of fork `seq` (its socket is closed): the server reaps it
    /// when it exits.
    pub fn release(&self, seq: u32) {
        let mut req = [0u8; 5];
        req[0] = b'R';
        req[1..5].copy_from_slice(&seq.to_le_bytes());
        let _ = self.lock().send(&req);
    }

    /// The socket file's directory (tests check it is removed); there is none on Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        let c = self.control.get_mut().unwrap_or_else(|e| e.into_inner());
        // End-of-file on its stdin: the server kills the children left, reaps them, exits.
        c.stdin = None;
        let _ = c.child.wait();
        #[cfg(not(target_os = "linux"))]
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a call got no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// The child is gone: how it ended, as its fork server saw it.
    Died(Ended),
    /// No reply within the deadline; the child was killed.
    Timeout,
    /// The child answered with bytes that are not a reply (its memory was corrupted, most
    /// likely by the provider); it was killed.
    Garbled(String),
}

/// How long nspsim polls a host's socket for the reply before it sleeps in a blocking read.
/// A reply that comes while nspsim sleeps costs a wake-up by the kernel, which on a virtual
/// machine whose other vCPU went idle is tens of microseconds, several times the round trip
/// itself. Each poll yields the CPU, so the spin takes little from other work on a busy
/// machine (with 50 µs, `explore --jobs 2` on 2 busy cores was sometimes slower than with no
/// spin; 20 µs was not); the host spins the same way for the next request (`NH_SPIN_NS`).
const SPIN: Duration = Duration::from_micros(20);

/// How much a read asks for at least (a reply of a NextEx with a large buffer asks for more).
const READ_CHUNK: usize = 16 * 1024;

/// nspsim's end of one run's host process.
pub struct Connection {
    stream: UnixStream,
    pid: u32,
    /// The fork's sequence number: how the fork server names this child.
    seq: u32,
    server: Arc<ForkServer>,
    deadline: Duration,
    out: Vec<u8>,
    body: Vec<u8>,
}

impl Connection {
    /// Forks a child of `server`; calls wait at most `deadline` for a reply.
    pub fn open(server: &Arc<ForkServer>, deadline: Duration) -> Result<Connection, String> {
        let (pid, seq, stream) = server.fork()?;
        let conn = Connection {
            stream,
            pid,
            seq,
            server: server.clone(),
            deadline,
            out: Vec::new(),
            body: Vec::new(),
        };
        conn.stream
            .set_read_timeout(Some(deadline))
            .map_err(|e| format!("cannot set the call deadline: {e}"))?;
        Ok(conn)
    }

    /// Sends one request and returns the reply's body.
    pub fn call(&mut self, req: &Request<'_>) -> Result<&[u8], CallFailure> {
        req.encode(&mut self.out);
        if self.stream.write_all(&self.out).is_err() {
            // Writing fails when the child is already gone (a broken pipe).
            return Err(CallFailure::Died(self.server.status(self.seq)));
        }
        self.receive_spinning(SPIN)
    }

    /// Reads the next frame (the greeting) within the deadline. It reads as much as the socket
    /// holds at once, so a frame usually costs one system call. No spin: a child forked ahead
    /// sent its greeting long ago, and a fresh fork takes far longer than [`SPIN`].
    pub fn receive(&mut self) -> Result<&[u8], CallFailure> {
        self.receive_spinning(Duration::ZERO)
    }

    /// [`Connection::receive`], polling the socket for up to `spin` before a blocking read.
    fn receive_spinning(&mut self, spin: Duration) -> Result<&[u8], CallFailure> {
        let start = Instant::now();
        let mut filled = 0;
        let mut want = 4;
        loop {
            if filled >= 4 {
                let n =
                    u32::from_le_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
                if n > MAX_FRAME {
                    self.server.kill(self.seq);
                    return Err(CallFailure::Garbled(format!("a reply frame of {n} bytes")));
                }
                want = 4 + n as usize;
                if filled >= want {
                    break;
                }
            }
            if self.body.len() < want.max(READ_CHUNK) {
                self.body.resize(want.max(READ_CHUNK), 0);
            }
            match self.read_some(filled, start, spin) {
                Ok(0) => return Err(CallFailure::Died(self.server.status(self.seq))),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.server.kill(self.seq);
                    return Err(CallFailure::Timeout);
                }
                Err(_) => return Err(CallFailure::Died(self.server.status(self.seq))),
            }
            // A reply that trickles in does not get a fresh deadline for every piece.
            if filled < want && start.elapsed() >= self.deadline {
                self.server.kill(self.seq);
                return Err(CallFailure::Timeout);
            }
        }
        if filled > want {
            // Requests are answered one at a time: bytes beyond the reply are not a reply.
            self.server.kill(self.seq);
            return Err(CallFailure::Garbled(format!(
                "{} bytes after a reply",
                filled - want
            )));
        }
        Ok(&self.body[4..want])
    }

    /// One read into `self.body[filled..]`: the socket is polled without sleeping until
    /// `spin` after `start`, then read blocking (the read timeout is the call deadline).
    fn read_some(
        &mut self,
        filled: usize,
        start: Instant,
        spin: Duration,
    ) -> std::io::Result<usize> {
        while start.elapsed() < spin {
            let buf = &mut self.body[filled..];
            match rustix::net::recv(&self.stream, buf, rustix::net::RecvFlags::DONTWAIT) {
                Ok((n, _)) => return Ok(n),
                Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => {
                    std::thread::yield_now();
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.stream.read(&mut self.body[filled..])
    }

    /// Kills the child now (a garbled reply).
    pub fn kill(&self) {
        self.server.kill(self.seq);
    }

    /// Whether the fork server this child came from has exited ([`ForkServer::gone`]).
    pub fn server_gone(&self) -> bool {
        self.server.gone()
    }

    /// The child's pid (diagnostics and tests; never traced).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the socket ends the child's serve loop; the server reaps it.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.server.release(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::asan_options;

    #[test]
    fn the_users_asan_options_come_after_ours() {
        assert_eq!(asan_options(None), "exitcode=86:detect_leaks=0");
        assert_eq!(asan_options(Some(" ")), "exitcode=86:detect_leaks=0");
        // Later options win: a user's detect_leaks=1 turns leak reports back on.
        assert_eq!(
            asan_options(Some("detect_leaks=1")),
            "exitcode=86:detect_leaks=0:detect_leaks=1"
        );
    }
}
