//! Binary COPY rows without a protocol message per row on the client.
//!
//! PostgreSQL sends every row of a `COPY ... TO STDOUT` as its own CopyData message, and
//! the driver hands each one over as a separate buffer through a channel: at 10 million
//! rows that bookkeeping cost about as much CPU as decoding the rows. A [`Tap`] sits in a
//! home connection's byte stream, under the driver (and over TLS). When the driver sends
//! a statement carrying an [`Expect`]'s marker, the tap takes that COPY's CopyData
//! payloads out of the stream as it reads them and sends them to the reader in chunks of
//! [`CHUNK`] bytes; every other message (the COPY's start, its end, errors, notices)
//! passes through to the driver unchanged, so the driver still sees the COPY begin, end
//! or fail, and reports it as usual. At CopyDone or an error the tap sends what it holds
//! and closes the channel, so the reader has every row before the driver says the COPY
//! is complete.
//!
//! A connection without a tap (e.g. `sslmode: prefer` against a server without TLS)
//! simply delivers the rows through the driver: the reader takes both.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::TryFutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_util::sync::PollSender;

/// Bytes of row data per chunk sent to the reader.
pub const CHUNK: usize = 256 << 10;
/// Chunks in flight between the tap and the reader (then the tap stops reading the socket).
const CHANNEL: usize = 4;
const READ_BUF: usize = 64 << 10;
const MARK: &[u8] = b"/* hygge-tap ";

type Registry = Mutex<HashMap<u64, mpsc::Sender<Bytes>>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A reader's claim on the rows of one COPY: put [`Expect::marker`] in the statement, and
/// the tap of the connection that sends it delivers the rows to [`Expect::rx`].
pub struct Expect {
    id: u64,
    /// The rows' bytes (a binary COPY stream, split anywhere), until the COPY ends.
    pub rx: mpsc::Receiver<Bytes>,
}

impl Expect {
    /// A new claim, waiting for a tap to take it.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(CHANNEL);
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        Expect { id, rx }
    }

    /// A comment to put before the statement.
    pub fn marker(&self) -> String {
        format!("{}{} */", String::from_utf8_lossy(MARK), self.id)
    }

    /// No tap will take the claim any more: if none did, [`Expect::rx`] ends.
    pub fn withdraw(&self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Default for Expect {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Expect {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// The id in a marker at the start of `sql`-bearing bytes, if any.
fn marked(buf: &[u8]) -> Option<u64> {
    let at = buf.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = buf[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&buf[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// A connection's byte stream with a tap (see the module docs).
pub struct Tap<S> {
    inner: S,
    raw: Box<[u8]>,
    start: usize,
    end: usize,
    /// The header of the message being read, and how much of it has been read.
    hdr: [u8; 5],
    hdr_len: usize,
    /// Bytes of a passed-through header still to give to the driver.
    hdr_out: usize,
    /// Body bytes left in the current message.
    left: usize,
    /// The current message's body goes to the reader.
    divert: bool,
    /// Where the rows go while a claimed COPY runs.
    sink: Option<PollSender<Bytes>>,
    /// Row bytes not sent yet.
    out: BytesMut,
    /// The COPY ended: send `out`, then close the channel.
    closing: bool,
}

impl<S> Tap<S> {
    /// Taps `inner`.
    pub fn new(inner: S) -> Self {
        Tap {
            inner,
            raw: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            hdr: [0; 5],
            hdr_len: 0,
            hdr_out: 0,
            left: 0,
            divert: false,
            sink: None,
            out: BytesMut::new(),
            closing: false,
        }
    }

    /// Sends `out` (and, when closing, closes the channel). Pending while the reader is
    /// behind: then nothing more is read from the socket.
    fn poll_flush_rows(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(sink) = &mut self.sink
            && !self.out.is_empty()
        {
            match sink.poll_reserve(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {
                    let chunk = self.out.split().freeze();
                    if sink.send_item(chunk).is_err() {
                        self.sink = None; // the reader is gone: drop the rows
                    }
                }
                Poll::Ready(Err(_)) => self.sink = None,
            }
        }
        if self.closing {
            self.closing = false;
            self.sink = None;
            self.out = BytesMut::new();
        }
        Poll::Ready(())
    }

    /// Moves bytes from `raw`: diverted rows to `out`, everything else to `buf`. Returns
    /// when `raw` is used up, `buf` is full, `out` holds a chunk, or the COPY ends.
    fn process(&mut self, buf: &mut ReadBuf<'_>) -> io::Result<()> {
        loop {
            if self.hdr_out > 0 {
                let n = self.hdr_out.min(buf.remaining());
                if n == 0 {
                    return Ok(());
                }
                let from = 5 - self.hdr_out;
                buf.put_slice(&self.hdr[from..from + n]);
                self.hdr_out -= n;
                continue;
            }
            if self.start >= self.end {
                return Ok(());
            }
            if self.left > 0 {
                let n = self.left.min(self.end - self.start);
                let bytes = &self.raw[self.start..self.start + n];
                if self.divert {
                    if self.out.capacity() == 0 {
                        // One allocation per chunk (a chunk overshoots by < one read).
                        self.out.reserve(CHUNK + READ_BUF);
                    }
                    self.out.extend_from_slice(bytes);
                    self.start += n;
                    self.left -= n;
                    if self.out.len() >= CHUNK {
                        return Ok(());
                    }
                } else {
                    let n = n.min(buf.remaining());
                    if n == 0 {
                        return Ok(());
                    }
                    buf.put_slice(&self.raw[self.start..self.start + n]);
                    self.start += n;
                    self.left -= n;
                }
                continue;
            }
            if self.hdr_len == 0 && self.sink.is_some() {
                // CopyDone or an error ends the COPY: the rows go first.
                if matches!(self.raw[self.start], b'c' | b'E') {
                    self.closing = true;
                    return Ok(());
                }
            }
            let n = (5 - self.hdr_len).min(self.end - self.start);
            self.hdr[self.hdr_len..self.hdr_len + n]
                .copy_from_slice(&self.raw[self.start..self.start + n]);
            self.hdr_len += n;
            self.start += n;
            if self.hdr_len < 5 {
                continue;
            }
            self.hdr_len = 0;
            let len = u32::from_be_bytes([self.hdr[1], self.hdr[2], self.hdr[3], self.hdr[4]]);
            let Some(body) = (len as usize).checked_sub(4) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a PostgreSQL message of length {len}"),
                ));
            };
            self.left = body;
            self.divert = self.sink.is_some() && self.hdr[0] == b'd';
            if !self.divert {
                self.hdr_out = 5;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        loop {
            if (me.closing || me.out.len() >= CHUNK) && me.poll_flush_rows(cx).is_pending() {
                return if buf.filled().len() > before {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            if me.start < me.end || me.hdr_out > 0 {
                let was = (me.start, buf.filled().len());
                me.process(buf)?;
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                if (me.start, buf.filled().len()) != was || me.closing || me.out.len() >= CHUNK {
                    continue;
                }
            }
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut me.raw);
            match Pin::new(&mut me.inner).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    // The socket is idle: hand over what is here rather than wait for a
                    // full chunk.
                    let _ = me.poll_flush_rows(cx);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        // End of stream: the driver reports the broken COPY.
                        me.sink = None;
                        return Poll::Ready(Ok(()));
                    }
                    me.start = 0;
                    me.end = n;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.sink.is_none()
            && let Some(id) = marked(buf)
            && let Some(tx) = registry()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id)
        {
            me.sink = Some(PollSender::new(tx));
        }
        Pin::new(&mut me.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Tap<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose streams are tapped over the encryption.
#[derive(Clone)]
pub struct TapTls<T>(pub T);

impl<S, T> MakeTlsConnect<S> for TapTls<T>
where
    T: MakeTlsConnect<S>,
{
    type Stream = Tap<T::Stream>;
    type TlsConnect = TapTlsConnect<T::TlsConnect>;
    type Error = T::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        self.0.make_tls_connect(domain).map(TapTlsConnect)
    }
}

/// See [`TapTls`].
pub struct TapTlsConnect<C>(C);

impl<S, C> TlsConnect<S> for TapTlsConnect<C>
where
    C: TlsConnect<S>,
{
    type Stream = Tap<C::Stream>;
    type Error = C::Error;
    type Future = futures::future::MapOk<C::Future, fn(C::Stream) -> Tap<C::Stream>>;

    fn connect(self, stream: S) -> Self::Future {
        self.0
            .connect(stream)
            .map_ok(Tap::new as fn(C::Stream) -> Tap<C::Stream>)
    }
}

/// Connects without TLS through a tapped socket (deadpool's connect hook).
pub struct PlainTap;

impl deadpool_postgres::Connect for PlainTap {
    fn connect(
        &self,
        cfg: &tokio_postgres::Config,
    ) -> futures::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let cfg = cfg.clone();
        Box::pin(async move {
            let mut cfg = cfg;
            match plain_socket(&cfg).await {
                Ok(stream) => {
                    let (client, conn) = cfg
                        .connect_raw(Tap::new(stream), tokio_postgres::NoTls)
                        .await?;
                    return Ok((client, tokio::spawn(drive(conn))));
                }
                // The driver reports it (its errors cannot be made here); the wait is over.
                Err(NoSocket::TimedOut) => {
                    cfg.connect_timeout(std::time::Duration::from_millis(1));
                }
                Err(NoSocket::Failed | NoSocket::DriverOnly) => {}
            }
            // The driver's own connect, for what it alone handles (and for its errors).
            let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
            Ok((client, tokio::spawn(drive(conn))))
        })
    }
}

async fn drive<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = conn.await {
        tracing::debug!("postgres connection ended: {e}");
    }
}

/// Why [`plain_socket`] has no socket.
enum NoSocket {
    /// Settings only the driver handles (`hostaddr`).
    DriverOnly,
    /// Every host timed out.
    TimedOut,
    /// A host refused, or was not found.
    Failed,
}

/// A socket to the first host that answers, as the driver would open it.
async fn plain_socket(cfg: &tokio_postgres::Config) -> Result<Socket, NoSocket> {
    use tokio_postgres::config::Host;
    if !cfg.get_hostaddrs().is_empty() {
        return Err(NoSocket::DriverOnly);
    }
    let mut why = NoSocket::Failed;
    let ports = cfg.get_ports();
    let limit = cfg
        .get_connect_timeout()
        .copied()
        .unwrap_or(std::time::Duration::from_secs(30));
    for (i, host) in cfg.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let socket = match host {
            Host::Tcp(name) => {
                tokio::time::timeout(limit, tokio::net::TcpStream::connect((name.as_str(), port)))
                    .await
                    .map(|r| {
                        r.map(|s| {
                            let _ = s.set_nodelay(true);
                            Socket::Tcp(s)
                        })
                    })
            }
            #[cfg(unix)]
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                tokio::time::timeout(limit, tokio::net::UnixStream::connect(path))
                    .await
                    .map(|r| r.map(Socket::Unix))
            }
        };
        match socket {
            Ok(Ok(socket)) => return Ok(socket),
            Ok(Err(_)) => why = NoSocket::Failed,
            Err(_) => why = NoSocket::TimedOut,
        }
    }
    Err(why)
}

/// A TCP or Unix socket.
pub enum Socket {
    /// TCP.
    Tcp(tokio::net::TcpStream),
    /// A Unix socket.
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

macro_rules! either {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Socket::Tcp($s) => $e,
            #[cfg(unix)]
            Socket::Unix($s) => $e,
        }
    };
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Feeds `server` bytes to a tap in pieces of every size from 1 to 9 bytes, claims a
    /// COPY, and checks the driver gets exactly the non-row messages and the reader
    /// exactly the rows, in order.
    #[tokio::test]
    async fn rows_are_diverted_and_everything_else_passes_through_at_any_split() {
        let rows: Vec<Vec<u8>> = (0..300u32)
            .map(|i| (0..(i % 37)).map(|j| (i * 7 + j) as u8).collect())
            .collect();
        let mut server = msg(b'Z', b"I");
        server.extend(msg(b'H', &[1, 0, 0]));
        for r in &rows {
            server.extend(msg(b'd', r));
        }
        server.extend(msg(b'N', b"a notice"));
        server.extend(msg(b'c', b""));
        server.extend(msg(b'C', b"COPY 300\0"));
        server.extend(msg(b'Z', b"I"));
        let mut want_driver = msg(b'Z', b"I");
        want_driver.extend(msg(b'H', &[1, 0, 0]));
        want_driver.extend(msg(b'N', b"a notice"));
        want_driver.extend(msg(b'c', b""));
        want_driver.extend(msg(b'C', b"COPY 300\0"));
        want_driver.extend(msg(b'Z', b"I"));
        let want_rows: Vec<u8> = rows.concat();

        for piece in 1..10usize {
            let (client, mut srv) = tokio::io::duplex(64);
            let mut tap = Tap::new(client);
            let mut expect = Expect::new();
            let sql = format!("{} COPY t TO STDOUT", expect.marker());
            tap.write_all(sql.as_bytes()).await.unwrap();
            let bytes = server.clone();
            let feeder = tokio::spawn(async move {
                let mut sink = vec![0u8; 1024];
                for c in bytes.chunks(piece) {
                    srv.write_all(c).await.unwrap();
                }
                // Drain what the tap wrote, then hang up.
                let _ = srv.read(&mut sink).await;
                drop(srv);
            });
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(c) = expect.rx.recv().await {
                    got.extend_from_slice(&c);
                }
                got
            });
            let mut driver = Vec::new();
            tap.read_to_end(&mut driver).await.unwrap();
            feeder.await.unwrap();
            assert!(
                driver == want_driver,
                "split {piece}: the driver got {driver:?}"
            );
            let rows = reader.await.unwrap();
            assert!(rows == want_rows, "split {piece}: {} row bytes", rows.len());
        }
    }

    #[tokio::test]
    async fn without_a_claim_every_byte_passes_through() {
        let (client, mut srv) = tokio::io::duplex(64);
        let mut tap = Tap::new(client);
        let mut server = msg(b'H', &[1, 0, 0]);
        server.extend(msg(b'd', b"row"));
        server.extend(msg(b'c', b""));
        let bytes = server.clone();
        tokio::spawn(async move {
            srv.write_all(&bytes).await.unwrap();
        });
        let mut driver = Vec::new();
        tap.read_to_end(&mut driver).await.unwrap();
        assert_eq!(driver, server);
    }

    #[test]
    fn markers_are_found_in_a_statement() {
        let e = Expect::new();
        let parse = format!("P\0\0\0\x20\0{} COPY (SELECT 1) TO STDOUT\0", e.marker());
        assert_eq!(marked(parse.as_bytes()), Some(e.id));
        assert_eq!(marked(b"SELECT 1"), None);
    }
}
