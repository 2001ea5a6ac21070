//! Publishing task events to containerd, in order, off the request path.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::time::Duration;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::publisher::RemotePublisher;
use log::warn;

/// What the publisher thread takes from its queue.
enum Item {
    /// An event to publish.
    Event(&'static str, Box<dyn MessageDyn + Send>),
    /// Everything queued before has been handled: tell the sender.
    Flush(Sender<()>),
}

/// An ordered event queue drained by one publisher thread.
pub struct Events {
    tx: Mutex<Sender<Item>>,
}

impl Events {
    /// Starts the publisher thread.
    pub fn new(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = channel::<Item>();
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for item in rx {
                    match item {
                        Item::Event(topic, event) => {
                            if let Err(e) =
                                publisher.publish(Context::default(), topic, &namespace, event)
                            {
                                warn!("publish {topic}: {e}");
                            }
                        }
                        Item::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .expect("spawn events thread");
        Events { tx: Mutex::new(tx) }
    }

    /// Queues an event for `topic`.
    pub fn send(&self, topic: &'static str, event: impl MessageDyn + 'static) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Item::Event(topic, Box::new(event)));
        }
    }

    /// Waits (at most `timeout`) until every event queued so far has been published: the
    /// shim calls it before it exits, or the last events (`/tasks/delete` after a Delete that
    /// ends the shim) would be lost with the process.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = channel();
        match self.tx.lock() {
            Ok(tx) if tx.send(Item::Flush(done)).is_ok() => {}
            _ => return false,
        }
        wait.recv_timeout(timeout).is_ok()
    }
}
