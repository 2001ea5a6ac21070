//! Publishing task events to containerd, in order, off the request path.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::publisher::RemotePublisher;
use log::warn;

/// An ordered event queue drained by one publisher thread.
pub struct Events {
    tx: Mutex<Sender<(&'static str, Box<dyn MessageDyn + Send>)>>,
}

impl Events {
    /// Starts the publisher thread.
    pub fn new(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = channel::<(&'static str, Box<dyn MessageDyn + Send>)>();
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for (topic, event) in rx {
                    if let Err(e) = publisher.publish(Context::default(), topic, &namespace, event)
                    {
                        warn!("publish {topic}: {e}");
                    }
                }
            })
            .expect("spawn events thread");
        Events { tx: Mutex::new(tx) }
    }

    /// Queues an event for `topic`.
    pub fn send(&self, topic: &'static str, event: impl MessageDyn + 'static) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send((topic, Box::new(event)));
        }
    }
}
