//! Code generated from `proto/` by build.rs: the tally.v1 API and the Google types it uses.
#![allow(missing_docs, clippy::all)]

/// The generated modules, nested as their packages.
pub mod generated {
    /// Google's common protobuf types used by the API.
    pub mod google {
        /// `google.type`: calendar dates.
        pub mod r#type {
            tonic::include_proto!("google.r#type");
        }
    }

    /// The tally packages.
    pub mod tally {
        /// Version 1 of the Tally API.
        pub mod v1 {
            tonic::include_proto!("tally.v1");
        }
    }
}

/// Encoded descriptors of every tally.v1 file, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tally_descriptor");

/// Largest IngestService request, in bytes (16 MiB, as ingest.proto documents): the server
/// refuses larger ones, and `tally ingest` encodes none larger.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

pub use generated::google;
pub use generated::tally::v1::*;
