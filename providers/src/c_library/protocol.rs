//! The frames nspsim and a C provider's host process exchange (`providers/c/host/PROTOCOL.md`).
//!
//! Every frame is a little-endian `u32` length and that many bytes. Requests are encoded into a
//! buffer the caller reuses; replies are decoded with every length checked against what is left,
//! because a provider that corrupts its host's memory may make the host send anything: a
//! malformed reply is an error value, never a panic or an allocation sized by an unchecked
//! count.

use super::marshal::QuerySetImage;
use nspsim_core::Guid;

/// The largest frame either side accepts (the host's `NH_MAX_FRAME`).
pub const MAX_FRAME: u32 = 64 << 20;

/// A call to the run's host process (one NSPv2 entry point, or one work item).
#[derive(Clone, Copy)]
pub enum Request<'a> {
    Startup,
    Cleanup {
        session: u64,
    },
    Begin {
        flags: u32,
        session: u64,
        image: &'a QuerySetImage,
    },
    NextEx {
        call: u64,
        lookup: u64,
        flags: u32,
        buffer_len: u32,
    },
    End {
        lookup: u64,
    },
    SetService {
        call: u64,
        session: u64,
        op: u32,
        flags: u32,
        image: &'a QuerySetImage,
    },
    Rundown {
        session: u64,
    },
    RunWork {
        token: u64,
    },
    /// Live mode: what the provider's threads did since the last reply, waiting at most
    /// `wait_us` for something when nothing is there yet and a thread runs.
    Poll {
        wait_us: u32,
    },
}

impl Request<'_> {
    /// Writes the whole frame (length prefix included) into `out`, which is cleared first.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&[0; 4]);
        match *self {
            Request::Startup => out.push(1),
            Request::Cleanup { session } => {
                out.push(2);
                out.extend_from_slice(&session.to_le_bytes());
            }
            Request::Begin {
                flags,
                session,
                image,
            } => {
                out.push(3);
                out.extend_from_slice(&flags.to_le_bytes());
                out.extend_from_slice(&session.to_le_bytes());
                put_image(out, image);
            }
            Request::NextEx {
                call,
                lookup,
                flags,
                buffer_len,
            } => {
                out.push(4);
                out.extend_from_slice(&call.to_le_bytes());
                out.extend_from_slice(&lookup.to_le_bytes());
                out.extend_from_slice(&flags.to_le_bytes());
                out.extend_from_slice(&buffer_len.to_le_bytes());
            }
            Request::End { lookup } => {
                out.push(5);
                out.extend_from_slice(&lookup.to_le_bytes());
            }
            Request::SetService {
                call,
                session,
                op,
                flags,
                image,
            } => {
                out.push(6);
                out.extend_from_slice(&call.to_le_bytes());
                out.extend_from_slice(&session.to_le_bytes());
                out.extend_from_slice(&op.to_le_bytes());
                out.extend_from_slice(&flags.to_le_bytes());
                put_image(out, image);
            }
            Request::Rundown { session } => {
                out.push(7);
                out.extend_from_slice(&session.to_le_bytes());
            }
            Request::RunWork { token } => {
                out.push(8);
                out.extend_from_slice(&token.to_le_bytes());
            }
            Request::Poll { wait_us } => {
                out.push(9);
                out.extend_from_slice(&wait_us.to_le_bytes());
            }
        }
        let body = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
        out[..4].copy_from_slice(&body.to_le_bytes());
    }
}

fn put_image(out: &mut Vec<u8>, image: &QuerySetImage) {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len(image.bytes.len()));
    out.extend_from_slice(&image.bytes);
    out.extend_from_slice(&len(image.relocs.len()));
    for r in &image.relocs {
        out.extend_from_slice(&r.to_le_bytes());
    }
}

/// What the provider did during a call, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostOp {
    /// WSAProviderCompleteAsyncCall(`call`, `code`); `output` when `call` was a NextEx still
    /// pending in the host.
    Complete {
        call: u64,
        code: i32,
        output: Option<NextExBuffer>,
    },
    /// QueueUserWorkItem (`thread` false) or CreateThread (`thread` true).
    Defer { token: u64, thread: bool },
    /// Live mode: the same, started at once on a real thread of the host.
    Thread { token: u64, thread: bool },
    /// Live mode: the thread of work item `token` returned.
    ThreadEnd { token: u64 },
    /// Live mode: the thread of work item `token` crashed with `signal`; the host dies of it
    /// right after this reply.
    WorkCrash { token: u64, signal: u8 },
    /// WSAUnadvertiseProvider of the advertised id (recorded; the scenario decides reachability).
    Unadvertise,
    /// The provider reached one of the host's limits during the call (the reply holds nothing
    /// else).
    Limit(HostLimit),
    /// The provider wrote to memory of call `call` after completing it, in the request that
    /// completed it.
    LateWrite { call: u64, what: LateWrite },
}

/// A limit of the host process (`providers/c/host/PROTOCOL.md`, "Limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostLimit {
    /// A call's completions and work items do not fit in one reply (64 MiB).
    Reply,
    /// More than [`MAX_PENDING`] NextEx and SetServiceEx calls were pending at once.
    Pending,
    /// A limit this nspsim does not know.
    Other(u8),
}

/// The most NextEx and SetServiceEx calls a host keeps pending (not completed) at once.
pub const MAX_PENDING: u32 = 65_536;

impl HostLimit {
    /// The fault's text.
    pub fn describe(self) -> String {
        match self {
            HostLimit::Reply => format!(
                "host limit: the completions and work items of one call exceed the {} MiB a reply may hold",
                MAX_FRAME >> 20
            ),
            HostLimit::Pending => format!(
                "host limit: more than {MAX_PENDING} NextEx and SetServiceEx calls pending (not completed) at once"
            ),
            HostLimit::Other(n) => format!("host limit {n}"),
        }
    }
}

/// Which memory a provider wrote after completing its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LateWrite {
    /// NextEx's `lpqsResults` buffer.
    Buffer,
    /// NextEx's `*lpdwBufferLength`.
    Length,
    /// SetServiceEx's `lpqsRegInfo`.
    QuerySet,
}

impl LateWrite {
    /// The parameter's Windows name.
    pub fn name(self) -> &'static str {
        match self {
            LateWrite::Buffer => "lpqsResults",
            LateWrite::Length => "lpdwBufferLength",
            LateWrite::QuerySet => "lpqsRegInfo",
        }
    }
}

/// A NextEx output buffer at the moment its call was completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextExBuffer {
    /// The buffer's address in the host: the result's pointers are relative to it.
    pub base: u64,
    /// `*lpdwBufferLength` at completion.
    pub length: u32,
    /// The buffer's size as the call gave it.
    pub capacity: u32,
    /// Its bytes up to the last non-zero one (the rest is zero).
    pub bytes: Vec<u8>,
}

/// The reply to one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The entry point's return value (0 for a void one).
    pub ret: i32,
    /// The last error, when the provider set it during the call.
    pub last_error: Option<u32>,
    /// `*ppvClientSessionArg` (Startup) or `*lphLookup` (Begin).
    pub value: u64,
    pub ops: Vec<HostOp>,
}

/// What the run's host main did, sent once before any call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// `entry`'s return value (or the host's own advertise error in `routines` mode).
    pub entry_ret: i32,
    /// Whether a provider was advertised.
    pub advertised: bool,
    /// The id it was advertised under.
    pub guid: Guid,
    pub cb_size: u32,
    pub major: u32,
    pub minor: u32,
    /// Bit i: slot i of the NSPV2_ROUTINE is non-NULL.
    pub slots: u8,
    /// The error of the last refused WSAAdvertiseProvider (0: none), and the id it named.
    pub rejected_error: u32,
    pub rejected_guid: Guid,
}

/// A bounds-checked reader.
struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.b.len() {
            return Err(format!(
                "the reply ends early ({n} bytes wanted, {} left)",
                self.b.len()
            ));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.arr().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.arr().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.arr().map(u64::from_le_bytes)
    }
}

/// Decodes a call reply (a frame body).
pub fn decode_reply(body: &[u8]) -> Result<Reply, String> {
    let mut r = Rd { b: body };
    match r.u8()? {
        b'R' => {}
        t => return Err(format!("a reply with tag {t}")),
    }
    let ret = r.i32()?;
    let set = r.u8()? != 0;
    let err = r.u32()?;
    let value = r.u64()?;
    let n = r.u32()?;
    // Each operation is at least 1 byte: a count beyond that is a lie, not an allocation.
    let mut ops = Vec::with_capacity((n as usize).min(body.len()));
    for _ in 0..n {
        let op = match r.u8()? {
            b'C' => {
                let call = r.u64()?;
                let code = r.i32()?;
                let output = if r.u8()? != 0 {
                    let base = r.u64()?;
                    let length = r.u32()?;
                    let capacity = r.u32()?;
                    let sent = r.u32()?;
                    if sent > capacity {
                        return Err(format!(
                            "a NextEx buffer of {capacity} bytes sent with {sent}"
                        ));
                    }
                    let bytes = r.take(sent as usize)?.to_vec();
                    Some(NextExBuffer {
                        base,
                        length,
                        capacity,
                        bytes,
                    })
                } else {
                    None
                };
                HostOp::Complete { call, code, output }
            }
            b'D' => HostOp::Defer {
                token: r.u64()?,
                thread: r.u8()? != 0,
            },
            b'T' => HostOp::Thread {
                token: r.u64()?,
                thread: r.u8()? != 0,
            },
            b'E' => HostOp::ThreadEnd { token: r.u64()? },
            b'X' => HostOp::WorkCrash {
                token: r.u64()?,
                signal: r.u8()?,
            },
            b'U' => HostOp::Unadvertise,
            b'L' => HostOp::Limit(match r.u8()? {
                1 => HostLimit::Reply,
                2 => HostLimit::Pending,
                n => HostLimit::Other(n),
            }),
            b'W' => {
                let call = r.u64()?;
                let what = match r.u8()? {
                    0 => LateWrite::Buffer,
                    1 => LateWrite::Length,
                    2 => LateWrite::QuerySet,
                    n => return Err(format!("a late write of kind {n}")),
                };
                HostOp::LateWrite { call, what }
            }
            t => return Err(format!("an operation with tag {t}")),
        };
        ops.push(op);
    }
    if !r.b.is_empty() {
        return Err(format!("{} bytes after the reply", r.b.len()));
    }
    Ok(Reply {
        ret,
        last_error: set.then_some(err),
        value,
        ops,
    })
}

/// Decodes the host main's report (a frame body).
pub fn decode_hello(body: &[u8]) -> Result<Hello, String> {
    let mut r = Rd { b: body };
    match r.u8()? {
        b'H' => {}
        t => return Err(format!("a greeting with tag {t}")),
    }
    Ok(Hello {
        entry_ret: r.i32()?,
        advertised: r.u8()? != 0,
        guid: guid_from_c(r.arr()?),
        cb_size: r.u32()?,
        major: r.u32()?,
        minor: r.u32()?,
        slots: r.u8()?,
        rejected_error: r.u32()?,
        rejected_guid: guid_from_c(r.arr()?),
    })
}

/// A GUID's 16 bytes as C lays them out: Data1 (u32), Data2 and Data3 (u16) little-endian,
/// then Data4's eight bytes in order.
pub fn guid_to_c(g: Guid) -> [u8; 16] {
    let be = g.0.to_be_bytes();
    let mut c = be;
    c[0..4].reverse();
    c[4..6].reverse();
    c[6..8].reverse();
    c
}

/// The inverse of [`guid_to_c`].
pub fn guid_from_c(c: [u8; 16]) -> Guid {
    let mut be = c;
    be[0..4].reverse();
    be[4..6].reverse();
    be[6..8].reverse();
    Guid(u128::from_be_bytes(be))
}

/// Lowercase hex of a byte string (the host takes the provider id this way).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_bytes_follow_the_c_layout() {
        // {6C3F4A52-1D2E-4B7A-9C1E-5A0B8D7E2F31}, as contoso.c writes it.
        let g: Guid = "6c3f4a52-1d2e-4b7a-9c1e-5a0b8d7e2f31"
            .parse()
            .expect("a GUID");
        let c = guid_to_c(g);
        assert_eq!(
            c,
            [
                0x52, 0x4a, 0x3f, 0x6c, 0x2e, 0x1d, 0x7a, 0x4b, 0x9c, 0x1e, 0x5a, 0x0b, 0x8d, 0x7e,
                0x2f, 0x31
            ]
        );
        assert_eq!(guid_from_c(c), g);
    }

    #[test]
    fn a_reply_is_decoded_and_a_lying_one_refused() {
        let mut b = vec![b'R'];
        b.extend_from_slice(&(-1i32).to_le_bytes());
        b.push(1);
        b.extend_from_slice(&10022u32.to_le_bytes());
        b.extend_from_slice(&7u64.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.push(b'D');
        b.extend_from_slice(&3u64.to_le_bytes());
        b.push(0);
        b.push(b'C');
        b.extend_from_slice(&9u64.to_le_bytes());
        b.extend_from_slice(&0i32.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&0x1000u64.to_le_bytes());
        b.extend_from_slice(&200u32.to_le_bytes());
        b.extend_from_slice(&100u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&[1, 2]);
        let r = decode_reply(&b).expect("a reply");
        assert_eq!(r.ret, -1);
        assert_eq!(r.last_error, Some(10022));
        assert_eq!(r.value, 7);
        assert_eq!(r.ops.len(), 2);
        assert!(decode_reply(&b[..b.len() - 1]).is_err());
        // A count of a billion operations is refused without allocating for them.
        let mut lie = b.clone();
        lie[18..22].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        assert!(decode_reply(&lie).is_err());
    }

    #[test]
    fn live_mode_operations_and_the_poll_request() {
        let mut b = vec![b'R'];
        b.extend_from_slice(&0i32.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.push(b'T');
        b.extend_from_slice(&4u64.to_le_bytes());
        b.push(1);
        b.push(b'E');
        b.extend_from_slice(&4u64.to_le_bytes());
        b.push(b'X');
        b.extend_from_slice(&5u64.to_le_bytes());
        b.push(11);
        let r = decode_reply(&b).expect("a reply");
        assert_eq!(
            r.ops,
            [
                HostOp::Thread {
                    token: 4,
                    thread: true
                },
                HostOp::ThreadEnd { token: 4 },
                HostOp::WorkCrash {
                    token: 5,
                    signal: 11
                },
            ]
        );
        assert!(decode_reply(&b[..b.len() - 1]).is_err());
        let mut out = Vec::new();
        Request::Poll { wait_us: 1000 }.encode(&mut out);
        assert_eq!(out, [5, 0, 0, 0, 9, 0xe8, 0x03, 0, 0]);
    }
}
