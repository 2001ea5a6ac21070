//! A ttrpc server for the shim's socket whose threads and connections are bounded.
//!
//! ttrpc 0.9's sync server (the one `containerd_shim::run` starts) gives every accepted
//! connection a handler, a reader, a writer and three or more worker threads, keeps a silent
//! connection for ever, and for a frame header announcing more than 4 MiB reads and discards
//! that many bytes (four billion reads of 0 bytes once the peer has gone): 2000 garbage
//! connections drove a shim to over 10,000 threads and minutes of CPU. This server:
//!
//! - reads frames on one thread per connection and runs requests on at most
//!   [`Limits::workers_per_connection`] workers of that connection, started on demand and gone
//!   once its queue is empty; a full queue ([`Limits::max_queued`]) stops the reader
//!   (backpressure) instead of growing;
//! - admits at most [`Limits::max_connections`] connections, of which at most
//!   [`Limits::max_unverified`] have not yet sent a complete request; a connection beyond
//!   either bound is closed at once (containerd holds one connection per task);
//! - closes a connection whose first request is not complete [`Limits::first_request`] after
//!   the accept, whose later frames take longer than [`Limits::frame_timeout`] from their first
//!   byte, that sends anything but a well-formed request of at most 4 MiB, or that does not
//!   take a response within [`Limits::write_timeout`];
//! - answers a [`Method::Deferred`] (Wait) without holding a thread while it waits: the method
//!   returns at once and replies later through a [`Responder`].
//!
//! Threads: at most `1 + max_connections * (1 + workers_per_connection)`; connections that
//! never sent a request hold one thread each, at most `max_unverified` of them. A slot is
//! given back as its thread finishes, so /proc may briefly show a few more threads that are
//! exiting. With the defaults: 1 + 64 * 5 = 321 at the very most; a storm of connections
//! that send no valid request gets at most 16 threads.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::proto::{MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX};
use containerd_shim::protos::ttrpc::proto::{MESSAGE_TYPE_REQUEST, MESSAGE_TYPE_RESPONSE};
use containerd_shim::protos::ttrpc::{self, Code, MessageHeader, MethodHandler};
use containerd_shim::protos::ttrpc::{Request, Response, TtrpcContext};
use log::{debug, info, warn};

/// The server's bounds (see the module documentation).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Of those, connections that have not yet sent a complete request.
    pub max_unverified: usize,
    /// Worker threads of one connection.
    pub workers_per_connection: usize,
    /// Requests and replies queued on one connection before its reader stops reading.
    pub max_queued: usize,
    /// Deferred requests (Wait) of one connection waiting for their answer; beyond that a
    /// deferred request is answered RESOURCE_EXHAUSTED at once.
    pub max_deferred: usize,
    /// Time from the accept to the end of the first request.
    pub first_request: Duration,
    /// Time from a frame's first byte to its last.
    pub frame_timeout: Duration,
    /// Time a response may wait for the peer to read.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // containerd: one per task of the pod, plus short-lived probes of `start`
            max_connections: 64,
            max_unverified: 16,
            // Wait holds no worker; four cover containerd's concurrent calls on one task
            workers_per_connection: 4,
            max_queued: 64,
            max_deferred: 4096,
            first_request: Duration::from_secs(2),
            frame_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// A method the server dispatches, by its path `/<service>/<method>`.
pub enum Method {
    /// Runs on a worker of the connection until it has answered (ttrpc's generated handlers).
    Blocking(Box<dyn MethodHandler + Send + Sync>),
    /// Called on the connection's reader; must return at once and answer through the
    /// [`Responder`] whenever it can, from any thread.
    Deferred(Box<dyn Fn(Request, Responder) + Send + Sync>),
}

/// Methods by path.
pub type Methods = HashMap<String, Method>;

/// Snapshot of what the server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections admitted and not yet closed.
    pub connections: usize,
    /// Of those, connections without a complete request yet.
    pub unverified: usize,
    /// Worker threads running.
    pub workers: usize,
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    listener: UnixListener,
}

struct Shared {
    methods: Methods,
    limits: Limits,
    quit: AtomicBool,
    connections: AtomicUsize,
    unverified: AtomicUsize,
    workers: Mutex<usize>,
    workers_done: Condvar,
}

impl Server {
    /// Serves `methods` on `listener` from a new accept thread.
    pub fn start(listener: UnixListener, methods: Methods, limits: Limits) -> io::Result<Server> {
        let shared = Arc::new(Shared {
            methods,
            limits,
            quit: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            unverified: AtomicUsize::new(0),
            workers: Mutex::new(0),
            workers_done: Condvar::new(),
        });
        let accepting = listener.try_clone()?;
        let s = shared.clone();
        std::thread::Builder::new()
            .name("ttrpc-accept".into())
            .stack_size(64 * 1024)
            .spawn(move || accept_loop(&accepting, &s))?;
        Ok(Server { shared, listener })
    }

    /// A handle reading the number of open connections, usable after the server is moved.
    pub fn connections(&self) -> Connections {
        Connections(self.shared.clone())
    }

    /// What the server holds now.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.shared.connections.load(Ordering::SeqCst),
            unverified: self.shared.unverified.load(Ordering::SeqCst),
            workers: *lock(&self.shared.workers),
        }
    }

    /// Stops accepting and reading, then waits up to `grace` for running requests to be
    /// answered (the Shutdown request's own answer among them).
    pub fn shutdown(self, grace: Duration) {
        info!("ttrpc server shutting down: {:?}", self.stats());
        self.shared.quit.store(true, Ordering::SeqCst);
        // wakes the accept thread (accept fails with EINVAL once the socket is shut down)
        // SAFETY: shutdown(2) on a socket descriptor we own; no memory is involved.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let deadline = Instant::now() + grace;
        let mut workers = lock(&self.shared.workers);
        while *workers > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                warn!("shutdown: {} requests still running", *workers);
                break;
            }
            workers = self
                .shared
                .workers_done
                .wait_timeout(workers, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// See [`Server::connections`].
pub struct Connections(Arc<Shared>);

impl Connections {
    /// Connections admitted and not yet closed.
    pub fn open(&self) -> usize {
        self.0.connections.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.quit.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => admit(stream, shared),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // out of descriptors or memory: give closing connections a moment
                warn!("accept on the shim socket: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Admits `stream` within the bounds and starts its reader, or closes it.
fn admit(stream: UnixStream, shared: &Arc<Shared>) {
    let l = &shared.limits;
    if !take_slot(&shared.connections, l.max_connections) {
        debug!(
            "closing a connection: {} connections served",
            l.max_connections
        );
        return;
    }
    if !take_slot(&shared.unverified, l.max_unverified) {
        shared.connections.fetch_sub(1, Ordering::SeqCst);
        debug!(
            "closing a connection: {} connections without a request",
            l.max_unverified
        );
        return;
    }
    let (cancel_tx, cancel_rx) = crossbeam_channel::unbounded();
    let conn = Arc::new(Conn {
        stream,
        shared: shared.clone(),
        write: Mutex::new(()),
        state: Mutex::new(ConnState::default()),
        space: Condvar::new(),
        cancel_tx: Mutex::new(Some(cancel_tx)),
        cancel_rx,
    });
    if let Err(e) = conn.stream.set_write_timeout(Some(l.write_timeout)) {
        warn!("connection write timeout: {e}");
    }
    let reader = conn.clone();
    let spawned = std::thread::Builder::new()
        .name("ttrpc-conn".into())
        .stack_size(256 * 1024)
        .spawn(move || read_loop(reader));
    if let Err(e) = spawned {
        warn!("spawn connection reader: {e}");
        shared.unverified.fetch_sub(1, Ordering::SeqCst);
        shared.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Increments `count` if it is below `max`.
fn take_slot(count: &AtomicUsize, max: usize) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// One accepted connection.
struct Conn {
    stream: UnixStream,
    shared: Arc<Shared>,
    /// Serialises whole response frames.
    write: Mutex<()>,
    state: Mutex<ConnState>,
    /// Signalled when the queue shrinks or the connection closes.
    space: Condvar,
    /// Dropped on close: handlers see their request cancelled, as with ttrpc's server.
    cancel_tx: Mutex<Option<crossbeam_channel::Sender<()>>>,
    cancel_rx: crossbeam_channel::Receiver<()>,
}

#[derive(Default)]
struct ConnState {
    jobs: VecDeque<Job>,
    workers: usize,
    deferred: usize,
    closed: bool,
}

enum Job {
    /// A request for a blocking method.
    Call(MessageHeader, Request),
    /// The answer of a deferred request.
    Reply(u32, Response),
}

/// Why a connection is closed.
enum Closed {
    Io(io::Error),
    Garbage(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Io(e) => write!(f, "{e}"),
            Closed::Garbage(what) => f.write_str(what),
        }
    }
}

fn read_loop(conn: Arc<Conn>) {
    let l = conn.shared.limits.clone();
    let first_deadline = Instant::now() + l.first_request;
    let mut verified = false;
    let why = loop {
        let frame = if verified {
            read_frame(&conn.stream, None, l.frame_timeout)
        } else {
            read_frame(&conn.stream, Some(first_deadline), l.frame_timeout)
        };
        let (mh, req) = match frame {
            Ok(f) => f,
            Err(e) => break e,
        };
        if !verified {
            verified = true;
            conn.shared.unverified.fetch_sub(1, Ordering::SeqCst);
        }
        if conn.shared.quit.load(Ordering::SeqCst) {
            break Closed::Garbage("the shim is shutting down".into());
        }
        if !dispatch(&conn, mh, req) {
            break Closed::Garbage("connection closed by the server".into());
        }
    };
    match &why {
        Closed::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        _ => debug!("closing a connection: {why}"),
    }
    conn.close();
    // the slot is free once the descriptor is closed (here, unless a worker still runs);
    // the thread itself is gone a moment later
    let shared = conn.shared.clone();
    drop(conn);
    if !verified {
        shared.unverified.fetch_sub(1, Ordering::SeqCst);
    }
    shared.connections.fetch_sub(1, Ordering::SeqCst);
}

/// Reads one request frame. With `deadline`, the whole frame must be in by then; without,
/// the first byte may take any time and the rest must follow within `frame_timeout`.
fn read_frame(
    stream: &UnixStream,
    deadline: Option<Instant>,
    frame_timeout: Duration,
) -> Result<(MessageHeader, Request), Closed> {
    let mut header = [0u8; MESSAGE_HEADER_LENGTH];
    let deadline = match deadline {
        Some(d) => {
            read_full(stream, &mut header, d)?;
            d
        }
        None => {
            stream.set_read_timeout(None).map_err(Closed::Io)?;
            read_some(stream, &mut header[..1])?;
            let d = Instant::now() + frame_timeout;
            read_full(stream, &mut header[1..], d)?;
            d
        }
    };
    let mh = MessageHeader::from(&header);
    if mh.type_ != MESSAGE_TYPE_REQUEST {
        return Err(Closed::Garbage(format!("frame type {}", mh.type_)));
    }
    let len = mh.length as usize;
    if len > MESSAGE_LENGTH_MAX {
        return Err(Closed::Garbage(format!("frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    read_full(stream, &mut body, deadline)?;
    let req = Request::parse_from_bytes(&body)
        .map_err(|e| Closed::Garbage(format!("request does not decode: {e}")))?;
    Ok((mh, req))
}

/// Fills `buf` by `deadline`.
fn read_full(stream: &UnixStream, buf: &mut [u8], deadline: Instant) -> Result<(), Closed> {
    let mut done = 0;
    while done < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Closed::Io(io::ErrorKind::TimedOut.into()));
        }
        stream.set_read_timeout(Some(left)).map_err(Closed::Io)?;
        done += read_some(stream, &mut buf[done..])?;
    }
    Ok(())
}

/// One read of at least one byte (EOF is an error).
fn read_some(mut stream: &UnixStream, buf: &mut [u8]) -> Result<usize, Closed> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(Closed::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Closed::Io(e)),
        }
    }
}

/// Hands a request to its method; false if the connection is closed.
fn dispatch(conn: &Arc<Conn>, mh: MessageHeader, req: Request) -> bool {
    let path = format!("/{}/{}", req.service, req.method);
    match conn.shared.methods.get(&path) {
        Some(Method::Deferred(f)) => {
            let responder = {
                let mut st = lock(&conn.state);
                if st.deferred >= conn.shared.limits.max_deferred {
                    drop(st);
                    let status = ttrpc::get_status(
                        Code::RESOURCE_EXHAUSTED,
                        format!("{path}: too many requests waiting on this connection"),
                    );
                    return conn.push(Job::Reply(mh.stream_id, status_response(status)), true);
                }
                st.deferred += 1;
                Responder {
                    conn: Arc::downgrade(conn),
                    stream_id: mh.stream_id,
                    answered: false,
                }
            };
            f(req, responder);
            !lock(&conn.state).closed
        }
        _ => conn.push(Job::Call(mh, req), true),
    }
}

impl Conn {
    /// Queues `job` and starts a worker if the connection has fewer than its bound. With
    /// `wait`, blocks while the queue is full (the reader's backpressure). False if closed.
    fn push(self: &Arc<Self>, job: Job, wait: bool) -> bool {
        let l = &self.shared.limits;
        let mut st = lock(&self.state);
        while wait && !st.closed && st.jobs.len() >= l.max_queued {
            st = self.space.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.closed {
            return false;
        }
        st.jobs.push_back(job);
        if st.workers >= l.workers_per_connection {
            return true;
        }
        st.workers += 1;
        drop(st);
        *lock(&self.shared.workers) += 1;
        let conn = self.clone();
        let spawned = std::thread::Builder::new()
            .name("ttrpc-worker".into())
            .spawn(move || conn.work());
        if let Err(e) = spawned {
            warn!("spawn ttrpc worker: {e}");
            self.shared.worker_exited();
            let mut st = lock(&self.state);
            st.workers -= 1;
            if st.workers == 0 {
                // nobody would ever run the queue
                drop(st);
                self.close();
                return false;
            }
        }
        true
    }

    /// A worker: runs queued jobs until the queue is empty.
    fn work(self: Arc<Self>) {
        loop {
            let job = {
                let mut st = lock(&self.state);
                match st.jobs.pop_front() {
                    Some(j) => j,
                    None => {
                        st.workers -= 1;
                        break;
                    }
                }
            };
            self.space.notify_one();
            match job {
                Job::Call(mh, req) => self.call(mh, req),
                Job::Reply(stream_id, res) => self.respond(stream_id, &res),
            }
        }
        self.shared.worker_exited();
    }

    /// Runs a blocking method and writes what it answered.
    fn call(&self, mh: MessageHeader, req: Request) {
        let path = format!("/{}/{}", req.service, req.method);
        let Some(Method::Blocking(handler)) = self.shared.methods.get(&path) else {
            let status = ttrpc::get_status(Code::NOT_FOUND, format!("{path} does not exist"));
            return self.respond(mh.stream_id, &status_response(status));
        };
        let stream_id = mh.stream_id;
        let (res_tx, res_rx) = std::sync::mpsc::channel();
        let ctx = TtrpcContext {
            fd: self.stream.as_raw_fd(),
            cancel_rx: self.cancel_rx.clone(),
            mh,
            res_tx,
            metadata: ttrpc::context::from_pb(&req.metadata),
            timeout_nano: req.timeout_nano,
        };
        match handler.handler(ctx, req) {
            Ok(()) => {
                for (mh, body) in res_rx.try_iter() {
                    self.write_frame(mh, &body);
                }
            }
            // a request whose payload does not decode
            Err(e) => {
                let status = match e {
                    ttrpc::Error::RpcStatus(s) => s,
                    e => ttrpc::get_status(Code::INVALID_ARGUMENT, format!("{path}: {e:?}")),
                };
                self.respond(stream_id, &status_response(status));
            }
        }
    }

    fn respond(&self, stream_id: u32, res: &Response) {
        let body = match res.write_to_bytes() {
            Ok(b) if b.len() <= MESSAGE_LENGTH_MAX => b,
            Ok(b) => {
                let status = ttrpc::get_status(
                    Code::RESOURCE_EXHAUSTED,
                    format!("response of {} bytes over the 4 MiB limit", b.len()),
                );
                status_response(status).write_to_bytes().unwrap_or_default()
            }
            Err(e) => {
                warn!("encode ttrpc response: {e}");
                return;
            }
        };
        let mh = MessageHeader::new_response(stream_id, body.len() as u32);
        self.write_frame(mh, &body);
    }

    fn write_frame(&self, mh: MessageHeader, body: &[u8]) {
        debug_assert_eq!(mh.type_, MESSAGE_TYPE_RESPONSE);
        let mut frame: Vec<u8> = mh.into();
        frame.extend_from_slice(body);
        let _serialised = lock(&self.write);
        if let Err(e) = (&self.stream).write_all(&frame) {
            debug!("closing a connection: write: {e}");
            self.close();
        }
    }

    /// Closes the connection: queued jobs are dropped, waiting readers and handlers woken.
    fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.jobs.clear();
        drop(st);
        self.space.notify_all();
        lock(&self.cancel_tx).take();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl Shared {
    fn worker_exited(&self) {
        let mut n = lock(&self.workers);
        *n -= 1;
        if *n == 0 {
            self.workers_done.notify_all();
        }
    }
}

/// A response carrying only `status`.
fn status_response(status: ttrpc::Status) -> Response {
    let mut res = Response::new();
    res.set_status(status);
    res
}

/// The answer of a deferred request: send it once, from any thread. Dropped unanswered, it
/// answers UNAVAILABLE so the client does not wait for ever. Holds the connection weakly: a
/// closed connection is freed even while requests on it wait.
pub struct Responder {
    conn: Weak<Conn>,
    stream_id: u32,
    answered: bool,
}

impl Responder {
    /// Answers with `result`, encoded as ttrpc's generated handlers encode theirs.
    pub fn answer<M: Message>(mut self, result: ttrpc::Result<M>) {
        let res = match result {
            Ok(m) => match m.write_to_bytes() {
                Ok(payload) => {
                    let mut res = status_response(ttrpc::get_status(Code::OK, String::new()));
                    res.payload = payload;
                    res
                }
                Err(e) => status_response(ttrpc::get_status(Code::INTERNAL, e.to_string())),
            },
            Err(ttrpc::Error::RpcStatus(s)) => status_response(s),
            Err(e) => status_response(ttrpc::get_status(Code::UNKNOWN, format!("{e:?}"))),
        };
        self.send(res);
    }

    fn send(&mut self, res: Response) {
        if std::mem::replace(&mut self.answered, true) {
            return;
        }
        let Some(conn) = self.conn.upgrade() else {
            return;
        };
        lock(&conn.state).deferred -= 1;
        // never blocks: the reply may exceed the queue bound (deferred requests are bounded)
        conn.push(Job::Reply(self.stream_id, res), false);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let status = ttrpc::get_status(Code::UNAVAILABLE, "the request was dropped unanswered");
        self.send(status_response(status));
    }
}
