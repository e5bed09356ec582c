//! Compiles the `.proto` of `examples/grpc.rs`, only with the
//! `grpc` feature; otherwise it does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "grpc")]
    grpc_example();
}

#[cfg(feature = "grpc")]
fn grpc_example() {
    println!("cargo:rerun-if-changed=proto/echo.proto");
    let protoc = protoc_bin_vendored::protoc_bin_path()
        .expect("protoc-bin-vendored has a protoc for this platform");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &["proto/echo.proto"], &["proto"])
        .expect("proto/echo.proto compiles");
}
