//! The bounded ttrpc server in-process: garbage and silent connections are closed, bounds
//! hold, blocking and deferred methods are answered, deferred ones without a worker.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::{self, Code, MessageHeader, Request, Response};

use super::server::{Limits, Method, Methods, Responder, Server, Stats};

const ECHO: &str = "/t.T/Echo";
const LATER: &str = "/t.T/Later";

/// Echoes the request payload back.
struct Echo;

impl ttrpc::MethodHandler for Echo {
    fn handler(&self, ctx: ttrpc::TtrpcContext, req: Request) -> ttrpc::Result<()> {
        let mut res = Response::new();
        res.set_status(ttrpc::get_status(Code::OK, ""));
        res.payload = req.payload;
        ttrpc::response_to_channel(ctx.mh.stream_id, res, ctx.res_tx)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    server: Option<Server>,
    later: Arc<Mutex<Vec<Responder>>>,
}

impl Fixture {
    fn new(limits: Limits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let later: Arc<Mutex<Vec<Responder>>> = Arc::default();
        let mut methods = Methods::new();
        methods.insert(ECHO.into(), Method::Blocking(Box::new(Echo)));
        let l = later.clone();
        methods.insert(
            LATER.into(),
            Method::Deferred(Box::new(move |_, r| l.lock().unwrap().push(r))),
        );
        let server = Server::start(listener, methods, limits).unwrap();
        Fixture {
            _dir: dir,
            path,
            server: Some(server),
            later,
        }
    }

    fn stats(&self) -> Stats {
        self.server.as_ref().unwrap().stats()
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Waits until `n` deferred requests have reached their method.
    #[track_caller]
    fn wait_deferred(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.later.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "deferred requests not dispatched"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the server's counts equal `want`.
    #[track_caller]
    fn wait_stats(&self, want: Stats) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.stats() != want {
            assert!(
                Instant::now() < deadline,
                "{:?}, want {want:?}",
                self.stats()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.take().unwrap().shutdown(Duration::from_secs(1));
    }
}

fn limits() -> Limits {
    Limits {
        first_request: Duration::from_millis(300),
        ..Limits::default()
    }
}

fn stats(connections: usize, unverified: usize, workers: usize) -> Stats {
    Stats {
        connections,
        unverified,
        workers,
    }
}

fn send(s: &mut UnixStream, stream_id: u32, path: &str, payload: &[u8]) {
    let (service, method) = path[1..].split_once('/').unwrap();
    let mut req = Request::new();
    req.service = service.into();
    req.method = method.into();
    req.payload = payload.to_vec();
    let body = req.write_to_bytes().unwrap();
    let mut frame: Vec<u8> = MessageHeader::new_request(stream_id, body.len() as u32).into();
    frame.extend(body);
    s.write_all(&frame).unwrap();
}

fn receive(s: &mut UnixStream) -> (u32, Response) {
    let mut h = [0u8; 10];
    s.read_exact(&mut h).unwrap();
    let mh = MessageHeader::from(&h);
    let mut body = vec![0; mh.length as usize];
    s.read_exact(&mut body).unwrap();
    (mh.stream_id, Response::parse_from_bytes(&body).unwrap())
}

/// How long until the server closes `s` (EOF); panics if it does not within 5 s.
#[track_caller]
fn closed_after(mut s: UnixStream) -> Duration {
    let t = Instant::now();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return t.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("connection still open after {:?}", t.elapsed())
            }
            // reset
            Err(_) => return t.elapsed(),
        }
    }
}

#[track_caller]
fn assert_closed_at_once(s: UnixStream) {
    let t = closed_after(s);
    assert!(t < Duration::from_secs(1), "closed after {t:?}");
}

#[test]
fn garbage_is_closed_at_once_and_silence_after_the_deadline() {
    let f = Fixture::new(limits());
    let garbage: [&[u8]; 3] = [
        // a request header announcing more than 4 MiB
        &[0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 1, 1, 0],
        // a response frame from a client
        &[0, 0, 0, 0, 0, 0, 0, 1, 2, 0],
        // a request whose body is no Request
        &[0, 0, 0, 2, 0, 0, 0, 1, 1, 0, 0xff, 0xff],
    ];
    for g in garbage {
        let mut s = f.connect();
        s.write_all(g).unwrap();
        let t = closed_after(s);
        assert!(t < Duration::from_millis(250), "{g:?} closed after {t:?}");
    }
    let silent = closed_after(f.connect());
    assert!(
        silent >= Duration::from_millis(250) && silent < Duration::from_secs(2),
        "silent connection closed after {silent:?}"
    );
    let mut half = f.connect();
    half.write_all(&[0, 0, 0]).unwrap();
    let t = closed_after(half);
    assert!(
        t < Duration::from_secs(2),
        "half a header closed after {t:?}"
    );
    f.wait_stats(stats(0, 0, 0));
}

#[test]
fn connections_beyond_the_bounds_are_closed() {
    let f = Fixture::new(Limits {
        max_connections: 3,
        max_unverified: 2,
        first_request: Duration::from_secs(10),
        ..Limits::default()
    });
    let mut a = f.connect();
    let _b = f.connect();
    f.wait_stats(stats(2, 2, 0));
    // a third silent one is over max_unverified
    assert_closed_at_once(f.connect());
    // a request verifies `a`: room for one more unverified, then max_connections is reached
    send(&mut a, 1, ECHO, b"x");
    assert_eq!(receive(&mut a).1.payload, b"x");
    let _c = f.connect();
    f.wait_stats(stats(3, 2, 0));
    assert_closed_at_once(f.connect());
    // `a` keeps being served
    send(&mut a, 3, ECHO, b"y");
    assert_eq!(receive(&mut a).1.payload, b"y");
}

#[test]
fn deferred_requests_hold_no_worker_and_are_answered() {
    let f = Fixture::new(limits());
    let mut s = f.connect();
    for id in (1..=19).step_by(2) {
        send(&mut s, id, LATER, b"");
    }
    f.wait_deferred(10);
    f.wait_stats(stats(1, 0, 0));
    // blocking requests still go through while ten wait
    send(&mut s, 21, ECHO, b"e");
    assert_eq!(receive(&mut s), (21, echo_response(b"e")));
    let waiting: Vec<Responder> = f.later.lock().unwrap().drain(..).collect();
    let mut answered = Vec::new();
    for (i, r) in waiting.into_iter().enumerate() {
        if i == 0 {
            // dropped unanswered
            drop(r);
        } else {
            r.answer(Ok(containerd_shim::api::Empty::new()));
        }
    }
    for _ in 0..10 {
        let (id, res) = receive(&mut s);
        answered.push((id, res.status.code.value()));
    }
    answered.sort();
    let ok = Code::OK as i32;
    let mut want: Vec<(u32, i32)> = (3..=19).step_by(2).map(|id| (id, ok)).collect();
    want.insert(0, (1, Code::UNAVAILABLE as i32));
    assert_eq!(answered, want);
    f.wait_stats(stats(1, 0, 0));
}

#[test]
fn unknown_methods_are_answered_and_responders_outlive_their_connection() {
    let f = Fixture::new(limits());
    let mut s = f.connect();
    send(&mut s, 1, "/t.T/Nope", b"");
    let (_, res) = receive(&mut s);
    assert_eq!(res.status.code, Code::NOT_FOUND.into());
    send(&mut s, 3, LATER, b"");
    f.wait_deferred(1);
    drop(s);
    f.wait_stats(stats(0, 0, 0));
    // answering on a closed connection is a no-op
    let r = f.later.lock().unwrap().pop().unwrap();
    r.answer(Ok(containerd_shim::api::Empty::new()));
    f.wait_stats(stats(0, 0, 0));
}

fn echo_response(payload: &[u8]) -> Response {
    let mut res = Response::new();
    res.set_status(ttrpc::get_status(Code::OK, ""));
    res.payload = payload.to_vec();
    res
}
