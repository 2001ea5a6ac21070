//! `containerd_shim::{protos, api}` as the shim's files use them, for the fuzz targets.

pub use containerd_shim_protos as protos;
pub use containerd_shim_protos::api;
