//! Generates the gRPC code from proto/ with the protoc shipped by protoc-bin-vendored, so
//! no system protoc is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the env.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/tally/v1/common.proto",
        "proto/tally/v1/influencer.proto",
        "proto/tally/v1/channel.proto",
        "proto/tally/v1/campaign.proto",
        "proto/tally/v1/segment.proto",
        "proto/tally/v1/goal.proto",
        "proto/tally/v1/kpi.proto",
        "proto/tally/v1/ingest.proto",
        "proto/tally/v1/job.proto",
        "proto/tally/v1/tenant.proto",
        // Compiled only so that reflection can describe the error details Tally sends.
        "proto/google/rpc/error_details.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("tally_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
