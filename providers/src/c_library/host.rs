//! The provider's host processes: one fork server per prepared provider, and one forked child
//! per run, reached over a Unix-domain socket (`providers/c/host/PROTOCOL.md`).
//!
//! This is where P4's containment meets real processes: a child that dies during a call is
//! seen here as end-of-file, and [`ForkServer::status`] tells how it ended (an exit status or a
//! signal, as text with no pid or address in it, since it reaches the trace); a child that does
//! not answer within the call deadline is killed. Nothing here panics: failures are values, and
//! the provider adapter decides what they mean.

use super::protocol::{self, MAX_FRAME, Request};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
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
}

impl Ended {
    /// `host exited with status 3`, `host killed by SIGSEGV`, `host aborted (SIGABRT)`.
    pub fn describe(self) -> String {
        match self {
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

/// How long the fork server waits for a child whose socket closed to finish exiting before it
/// kills it (a child normally exits at once; a `status` request comes after end-of-file).
const EXIT_GRACE_MS: u32 = 2_000;

/// The fork server: the host process that loaded the library once and forks a child per run.
/// Dropping it closes its stdin; it then kills the children left and exits, and is reaped.
pub struct ForkServer {
    control: Mutex<Control>,
    listener: UnixListener,
    dir: PathBuf,
    socket: PathBuf,
}

struct Control {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    out: Vec<u8>,
    body: Vec<u8>,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A private (0700) directory for the listening socket.
fn private_dir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("nspsim-host-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
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
        let dir = private_dir()?;
        let socket = dir.join("s");
        let listener = UnixListener::bind(&socket).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            format!("cannot listen on {}: {e}", socket.display())
        })?;
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
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A provider's diagnostics go to the terminal, as a host's console would show them.
            .stderr(Stdio::inherit());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "cannot start the provider host {}: {e}",
                    spec.exe.display()
                ));
            }
        };
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err("the provider host has no pipes".into());
        };
        let (stdout, greeting) = match greeting(&mut child, stdout, spec.load_deadline) {
            Ok(g) => g,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
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
            dir,
            socket,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forks a run's host process and returns its pid (for status requests only) and its
    /// connection. Fork and accept happen under one lock, so concurrent callers each get their
    /// own child's connection.
    pub fn fork(&self) -> Result<(u32, UnixStream), String> {
        let mut c = self.lock();
        c.send(b"F")?;
        let pid = match c.recv()?.split_first() {
            Some((0, rest)) if rest.len() == 4 => {
                u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]])
            }
            Some((_, text)) => return Err(String::from_utf8_lossy(text).into_owned()),
            None => return Err("the host sent an empty reply to fork".into()),
        };
        // The server connected before it forked: the connection is already queued.
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| format!("cannot accept the host's connection: {e}"))?;
        Ok((pid, stream))
    }

    fn ask(&self, cmd: u8, pid: u32, wait_ms: u32) -> Ended {
        let mut c = self.lock();
        let mut req = [0u8; 9];
        req[0] = cmd;
        req[1..5].copy_from_slice(&pid.to_le_bytes());
        req[5..9].copy_from_slice(&wait_ms.to_le_bytes());
        if c.send(&req).is_err() {
            return Ended::Unknown;
        }
        match c.recv() {
            Ok([0, how, a, b, cc, d]) => {
                let n = i32::from_le_bytes([*a, *b, *cc, *d]);
                match how {
                    0 => Ended::Exited(n),
                    1 => Ended::Signaled(n),
                    2 => Ended::Killed,
                    _ => Ended::Unknown,
                }
            }
            _ => Ended::Unknown,
        }
    }

    /// How `pid` ended (after its socket reached end-of-file).
    pub fn status(&self, pid: u32) -> Ended {
        self.ask(b'S', pid, EXIT_GRACE_MS)
    }

    /// Kills `pid` (a missed deadline) and reaps it.
    pub fn kill(&self, pid: u32) -> Ended {
        self.ask(b'K', pid, 0)
    }

    /// nspsim is done with `pid` (its socket is closed): the server reaps it when it exits.
    pub fn release(&self, pid: u32) {
        let mut req = [0u8; 5];
        req[0] = b'R';
        req[1..5].copy_from_slice(&pid.to_le_bytes());
        let _ = self.lock().send(&req);
    }

    /// The listening socket's path (tests check it is removed).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        let c = self.control.get_mut().unwrap_or_else(|e| e.into_inner());
        // End-of-file on its stdin: the server kills the children left, reaps them, exits.
        c.stdin = None;
        let _ = c.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a call got no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// The child is gone: how it ended, described.
    Died(String),
    /// No reply within the deadline; the child was killed.
    Timeout,
    /// The child answered with bytes that are not a reply (its memory was corrupted, most
    /// likely by the provider); it was killed.
    Garbled(String),
}

/// How much a read asks for at least (a reply of a NextEx with a large buffer asks for more).
const READ_CHUNK: usize = 16 * 1024;

/// nspsim's end of one run's host process.
pub struct Connection {
    stream: UnixStream,
    pid: u32,
    server: Arc<ForkServer>,
    deadline: Duration,
    out: Vec<u8>,
    body: Vec<u8>,
}

impl Connection {
    /// Forks a child of `server`; calls wait at most `deadline` for a reply.
    pub fn open(server: &Arc<ForkServer>, deadline: Duration) -> Result<Connection, String> {
        let (pid, stream) = server.fork()?;
        let conn = Connection {
            stream,
            pid,
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
            return Err(CallFailure::Died(self.server.status(self.pid).describe()));
        }
        self.receive()
    }

    /// Reads the next frame (the greeting, or a reply) within the deadline. It reads as much
    /// as the socket holds at once, so a reply usually costs one system call.
    pub fn receive(&mut self) -> Result<&[u8], CallFailure> {
        let start = Instant::now();
        let mut filled = 0;
        let mut want = 4;
        loop {
            if filled >= 4 {
                let n =
                    u32::from_le_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
                if n > MAX_FRAME {
                    self.server.kill(self.pid);
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
            match self.stream.read(&mut self.body[filled..]) {
                Ok(0) => return Err(CallFailure::Died(self.server.status(self.pid).describe())),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.server.kill(self.pid);
                    return Err(CallFailure::Timeout);
                }
                Err(_) => return Err(CallFailure::Died(self.server.status(self.pid).describe())),
            }
            // A reply that trickles in does not get a fresh deadline for every piece.
            if filled < want && start.elapsed() >= self.deadline {
                self.server.kill(self.pid);
                return Err(CallFailure::Timeout);
            }
        }
        if filled > want {
            // Requests are answered one at a time: bytes beyond the reply are not a reply.
            self.server.kill(self.pid);
            return Err(CallFailure::Garbled(format!(
                "{} bytes after a reply",
                filled - want
            )));
        }
        Ok(&self.body[4..want])
    }

    /// Kills the child now (a garbled reply).
    pub fn kill(&self) {
        self.server.kill(self.pid);
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
        self.server.release(self.pid);
    }
}
