// Compiles our OpAMP schema (proto/*.proto) into Rust with prost, using protox
// so that no system `protoc` is needed on a fresh machine or in CI.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(["opamp.proto", "anyvalue.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(files)?;
    Ok(())
}
